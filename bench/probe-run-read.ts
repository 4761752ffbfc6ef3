/**
 * A focused probe of `GET /api/v1/runs/:run` (bench/api.ts's first figure) for before/after
 * pairs: the same real run as the api benchmark (a 5-job, 10-step pipeline run to SUCCESS by a
 * real agent), then rounds that alternate `GET /api/health` and the run's read under 50 clients,
 * and for each route the requests/s, p50/p99 and the CPU time per request of workerd's runtime
 * process, of wrangler's proxy (a second workerd) and of the clients (this process), read from
 * /proc — CPU time per request moves far less with the machine's load than requests/s.
 * Without the api benchmark's 10,000 seeded D1 rows, which the run's read never touches.
 *
 * `node --experimental-strip-types bench/probe-run-read.ts [--rounds 4] [--round-ms 4000]
 *  [--profile out.cpuprofile]` — with --profile, a V8 CPU profile of the worker's isolate over
 * the run's rounds (through wrangler dev's inspector) and its top self-time functions.
 * Self-contained on purpose: it is copied into an older tree to measure the code before.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { freePort } from "../test/e2e/harness.ts";
import { PIPELINE } from "./api.ts";
import { profileSession, topSelf } from "./v8-profile.ts";
import { closedLoop, cpuSeconds, KeepAlive, startAgent, startControlPlane, stopAll, summarize, waitFor, workerdPids } from "./harness.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "4" },
    "round-ms": { type: "string", default: "4000" },
    profile: { type: "string" },
    label: { type: "string", default: "" },
    /** Restart wrangler dev after the run, as the api benchmark does (to seed D1), before measuring. */
    restart: { type: "boolean", default: false },
    /** Only the run's read, for as long as asked (e.g. under `perf record` of workerd): --run-only 30000. */
    "run-only": { type: "string" },
  },
});
const ROUNDS = Number(values.rounds);
const ROUND_MS = Number(values["round-ms"]);
const CLIENTS = 50;

const inspectorPort = values.profile ? await freePort() : undefined;
const cp = await startControlPlane(inspectorPort ? { inspectorPort } : {});
try {
  await cp.api("POST", "/api/v1/projects", { slug: "api" });
  await cp.api("PUT", "/api/v1/projects/api/pipelines/build", undefined, { raw: PIPELINE, headers: { "content-type": "text/plain" } });
  const agent = await startAgent(cp, { name: "builder", labels: ["api"] });
  const real = (await cp.api("POST", "/api/v1/projects/api/pipelines/build/runs", { branch: "main", commit: "0123456789abcdef0123456789abcdef01234567" })).json.id as string;
  await waitFor("the run to succeed", async () => (await cp.api("GET", `/api/v1/runs/${real}`)).json.status === "SUCCESS", { timeoutMs: 120_000, intervalMs: 250 });
  agent.signal("SIGTERM");
  await agent.exited();
  await new Promise((r) => setTimeout(r, 6_000));
  if (values.restart) await cp.restart();

  const { runtime, proxy } = workerdPids(cp);
  const client = new KeepAlive(cp.url, CLIENTS);
  const auth = { authorization: `Bearer ${cp.adminToken}` };
  const routes = { health: "/api/health", run: `/api/v1/runs/${real}` } as const;
  for (const path of Object.values(routes)) await closedLoop(client, { concurrency: CLIENTS, durationMs: 1000, request: () => client.request("GET", path, auth) });
  if (values["run-only"]) {
    const idle = cpuSeconds(runtime)!;
    await new Promise((r) => setTimeout(r, 5_000));
    console.log(`runtime workerd ${runtime}, proxy ${proxy}: ${(cpuSeconds(runtime)! - idle).toFixed(2)} CPU s in 5 s idle; reading the run for ${values["run-only"]} ms`);
    await closedLoop(client, { concurrency: CLIENTS, durationMs: Number(values["run-only"]), request: () => client.request("GET", routes.run, auth) });
  }
  const prof = values.profile && inspectorPort ? await profileSession(inspectorPort, 200) : null;
  const acc = Object.fromEntries(Object.keys(routes).map((k) => [k, { samples: [] as number[], seconds: 0, runtime: 0, proxy: 0, client: 0, errors: 0 }]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, path] of Object.entries(routes)) {
      if (prof && name === "run") await prof.start();
      const before = { runtime: cpuSeconds(runtime)!, proxy: proxy ? cpuSeconds(proxy)! : 0, client: process.cpuUsage() };
      const out = await closedLoop(client, { concurrency: CLIENTS, durationMs: ROUND_MS, request: () => client.request("GET", path, auth) });
      const a = acc[name]!;
      a.runtime += cpuSeconds(runtime)! - before.runtime;
      a.proxy += (proxy ? cpuSeconds(proxy)! : 0) - before.proxy;
      const c = process.cpuUsage(before.client);
      a.client += (c.user + c.system) / 1e6;
      a.samples.push(...out.samples);
      a.seconds += out.seconds;
      a.errors += out.errors;
      if (prof && name === "run" && r === ROUNDS - 1) {
        const profile = await prof.stop();
        writeFileSync(values.profile!, JSON.stringify(profile));
        console.log(topSelf(profile).join("\n"));
      }
    }
  }
  client.close();
  const size = (await cp.api("GET", routes.run)).text.length;
  const rows = Object.entries(acc).map(([name, a]) => {
    const n = a.samples.length;
    const s = summarize(a.samples);
    return {
      route: name,
      rps: Math.round(n / a.seconds),
      p50: +s.p50.toFixed(1),
      p99: +s.p99.toFixed(1),
      runtimeMsPerReq: +((1000 * a.runtime) / n).toFixed(3),
      proxyMsPerReq: +((1000 * a.proxy) / n).toFixed(3),
      clientMsPerReq: +((1000 * a.client) / n).toFixed(3),
      errors: a.errors,
    };
  });
  const ratio = rows[0]!.rps / rows[1]!.rps;
  console.log(JSON.stringify({ label: values.label, load: (await import("node:os")).loadavg().map((x) => +x.toFixed(2)), runBytes: size, ratio: +ratio.toFixed(2), rows }));
} finally {
  await stopAll();
  await cp.stop();
}
