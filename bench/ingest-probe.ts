/**
 * A focused probe of log ingest (not part of `npm run bench`): one job prints `--mib` MiB flat
 * out (bench/logs.ts's step) while `--viewers` viewers follow the run on protocol 2, and the
 * probe reports where the CPU went — seconds per MiB ingested of workerd's runtime, wrangler's
 * proxy, the agent (its own, and its step's) and this process (the viewers) — read from /proc,
 * which the machine's load moves far less than the wall-clock figure. `--profile <file>` also
 * takes a V8 CPU profile of the worker's isolate through `wrangler dev`'s inspector and prints
 * the functions with the most self time.
 *
 *   node --experimental-strip-types --no-warnings bench/ingest-probe.ts --viewers 50 --mib 50 [--profile /tmp/w.cpuprofile]
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type AgentProcess, MB, ROOT, startAgent, waitFor, wallNow, withControlPlane, workerdPids } from "./harness.ts";
import { follow, type Lines, printer } from "./logs.ts";
import { profileSession, topSelf } from "./v8-profile.ts";

const { values } = parseArgs({
  options: { viewers: { type: "string", default: "50" }, mib: { type: "string", default: "50" }, profile: { type: "string" }, "no-deflate": { type: "boolean", default: false } },
});
if (values["no-deflate"]) {
  // Viewers that do not offer permessage-deflate (Node's own WebSocket always does): the `ws`
  // package's client, which takes the same calls the live client makes.
  const WS = createRequire(import.meta.url)("ws") as new (url: string, protocols: string[], options: object) => WebSocket;
  globalThis.WebSocket = class extends WS {
    constructor(url: string | URL) {
      super(String(url), [], { perMessageDeflate: false });
    }
  } as unknown as typeof WebSocket;
}
const VIEWERS = Number(values.viewers);
const BYTES = Number(values.mib) * MB;
const INSPECTOR = 9300 + Math.floor(Math.random() * 500);

/** utime+stime of the process alone, and of the children it waited for (an agent's steps). */
function cpu(pid: number | null): { own: number; children: number } {
  if (pid === null) return { own: 0, children: 0 };
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  return { own: (f[11]! + f[12]!) / 100, children: (f[13]! + f[14]!) / 100 };
}

const bundle = join(ROOT, "bench/results/yardmaster-agent.tmp.mjs");
execFileSync(process.execPath, [join(ROOT, "agent/build.mjs"), "--outfile", bundle], { stdio: "inherit" });
process.env.YM_AGENT_ENTRY = bundle;

await withControlPlane(
  { project: "logs", pipelines: { flat: printer("flat", "logs", BYTES, null) }, options: values.profile ? { inspectorPort: INSPECTOR } : {} },
  async (cp) => {
    const pids = workerdPids(cp);
    const run = await cp.api("POST", "/api/v1/projects/logs/pipelines/flat/runs", {});
    const runId = run.json.id as string;
    const ticket = (await cp.api("POST", "/api/v1/live-tickets")).json.ticket as string;
    const lines: Lines = { base: -1 };
    const viewers = Array.from({ length: VIEWERS }, () => follow(cp, runId, ticket, lines));
    await waitFor("every viewer's snapshot", () => viewers.every((v) => v.connected), { timeoutMs: 30_000, intervalMs: 50 });
    const session = values.profile ? await profileSession(INSPECTOR) : null;
    await session?.start();
    const stop = session?.stop ?? null;
    const before = { runtime: cpu(pids.runtime).own, proxy: cpu(pids.proxy).own, self: process.cpuUsage() };
    const started = wallNow();
    const agent: AgentProcess = await startAgent(cp, { name: "printer", labels: ["logs"] });
    let ended = 0;
    await waitFor(
      "the run to end and every viewer to have it",
      async () => {
        if (ended === 0) {
          const status = (await cp.api("GET", `/api/v1/runs/${runId}`)).json.status as string;
          if (["SUCCESS", "FAILED", "KILLED", "WARNING"].includes(status)) ended = wallNow();
        }
        return ended > 0 && viewers.every((v) => v.bytes > 0 && v.lastLogAt > 0) && (await Promise.race([Promise.all(viewers.map((v) => v.done)).then(() => true), new Promise((r) => setTimeout(() => r(false), 10))]));
      },
      { timeoutMs: 600_000, intervalMs: 250 },
    );
    const self = process.cpuUsage(before.self);
    const after = { runtime: cpu(pids.runtime).own, proxy: cpu(pids.proxy).own, agent: cpu(agent.process.pid!) };
    const profile = stop ? await stop() : null;
    const stored = Buffer.byteLength((await cp.api("GET", `/api/v1/runs/${runId}/jobs/flat/log`)).text);
    const mib = stored / MB;
    const firstStamp = Math.min(...viewers.map((v) => v.firstStamp).filter((t) => t > 0));
    const lastStored = Math.max(...viewers.map((v) => v.lastStoredAt));
    const complete = viewers.filter((v) => v.bytes === stored && v.gaps === 0).length;
    const per = (s: number) => `${((s / mib) * 1000).toFixed(1)} ms/MiB (${s.toFixed(2)} s)`;
    console.log(`viewers ${VIEWERS} (${complete} complete), ${mib.toFixed(1)} MiB stored in ${viewers[0]?.events ?? "?"} chunks; load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
    if (VIEWERS > 0) console.log(`ingest ${(BYTES / MB / ((lastStored - firstStamp) / 1000)).toFixed(2)} MB/s (first line → last chunk stored), delivered in ${((Math.max(...viewers.map((v) => v.lastLogAt)) - firstStamp) / 1000).toFixed(1)} s`);
    console.log(`agent start → run ended ${((ended - started) / 1000).toFixed(1)} s: ${(BYTES / MB / ((ended - started) / 1000)).toFixed(2)} MB/s`);
    console.log(`cpu workerd runtime ${per(after.runtime - before.runtime)}`);
    console.log(`cpu wrangler proxy  ${per(after.proxy - before.proxy)}`);
    console.log(`cpu agent           ${per(after.agent.own)}; its step ${per(after.agent.children)}`);
    console.log(`cpu viewers (bench) ${per((self.user + self.system) / 1e6)}`);
    if (profile && values.profile) {
      writeFileSync(values.profile, JSON.stringify(profile));
      console.log(topSelf(profile).join("\n"));
    }
  },
);
