/**
 * The network between agents and the control plane is cut for 30 s (YM_CUT_SECONDS) while a
 * job prints numbered lines without pause, by a TCP proxy that resets every connection in
 * flight and every new one (./tcp-proxy.ts). Afterwards the agent carries on by itself: the job
 * ends SUCCESS on its first attempt and the stored log holds every line exactly once, in order
 * (chunks whose answers were lost are resent and stored once). A second agent was waiting in a
 * long-poll claim when the cut came; a job queued during the cut is handed to that dead claim,
 * and the agent's retry of the same claim (same claimId) gets that job back rather than leaving
 * it held until declared lost.
 */
import { describe, expect, it } from "vitest";
import { controlPlaneForFile, linePrinter } from "./file-control-plane.ts";
import { type AgentProcess, type ControlPlane, startAgent, waitFor } from "./harness.ts";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";

const CUT_MS = Number(process.env.YM_CUT_SECONDS ?? 30) * 1000;

let cp: ControlPlane;
let proxy: TcpProxy;
const agents: AgentProcess[] = [];

controlPlaneForFile({
  project: "cut",
  // Lost after 120 s: longer than the cut plus the agents' backoff (claims back off up to 30 s),
  // so what is tested is recovery, not the lost-agent path (tested in agents.test.ts).
  options: { vars: { YM_AGENT_LOST_AFTER_SECONDS: "120", YM_HEARTBEAT_SECONDS: "2" } },
  started: async (started) => {
    cp = started;
    proxy = await startTcpProxy(cp.port);
  },
  stopping: () => proxy?.close(),
});

async function store(name: string, yaml: string) {
  const res = await cp.api("PUT", `/api/v1/projects/cut/pipelines/${name}`, undefined, { raw: yaml, headers: { "content-type": "text/plain" } });
  expect(res.status, res.text).toBe(201);
}
async function trigger(name: string) {
  const res = await cp.api("POST", `/api/v1/projects/cut/pipelines/${name}/runs`, {});
  expect(res.status, res.text).toBe(201);
  return res.json.id as string;
}
const getRun = async (id: string) => (await cp.api("GET", `/api/v1/runs/${id}`)).json;
const logOf = async (id: string, job: string) => (await cp.api("GET", `/api/v1/runs/${id}/jobs/${job}/log`)).text;
const explain = (id: string) => async () =>
  `run: ${JSON.stringify(await getRun(id), null, 1).slice(0, 4000)}\n` +
  agents.map((a) => `--- agent ${a.name}\n${a.output().slice(-4000)}`).join("\n") +
  `\n--- wrangler dev (claims and errors)\n${cp.output().split("\n").filter((l) => !/\] (GET \S+|POST \S+(heartbeat|logs\S*)) 2\d\d /.test(l)).join("\n").slice(-4000)}`;
const untilEnded = (id: string, timeoutMs: number) =>
  waitFor(`run ${id} to end`, async () => {
    const run = await getRun(id);
    return ["SUCCESS", "WARNING", "FAILED", "KILLED"].includes(run.status) ? run : null;
  }, { timeoutMs, intervalMs: 500, explain: explain(id) });

// Prints numbered lines for PRINT_SECONDS, then says how many through an output.
const PRINT_SECONDS = Math.round(CUT_MS / 1000) + 20;
const PRINTER = linePrinter("printer", "cut-printer", PRINT_SECONDS, "0.01");
const LATE = `name: late
jobs:
  late:
    runs-on: [cut-waiter]
    steps:
      - run: echo "queued during the cut"
`;

describe("a 30 s network cut between agents and the control plane", () => {
  it("the agents carry on: the job ends SUCCESS with every log line once, and a job handed to a dead claim is not lost", async () => {
    await store("printer", PRINTER);
    await store("late", LATE);
    const via = { ...cp, url: proxy.url };
    agents.push(await startAgent(via, { name: "printer", labels: ["cut-printer"] }));
    agents.push(await startAgent(via, { name: "waiter", labels: ["cut-waiter"] }));
    const printRun = await trigger("printer");
    await waitFor("the first lines in the stored log", async () => (await logOf(printRun, "print")).includes("line 50\n"), {
      timeoutMs: 60_000,
      intervalMs: 250,
      explain: explain(printRun),
    });
    // The waiter is idle: its claim is held open by the dispatcher right now.
    await waitFor("the waiter to be idle", async () => {
      const agentsNow = (await cp.api("GET", "/api/v1/agents")).json.items;
      return agentsNow.find((a: any) => a.name === "waiter")?.state === "idle";
    }, { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 1_000));

    proxy.cut();
    const cutAt = Date.now();
    // Queued while the waiter's claim is dead: the dispatcher hands it to that claim, whose
    // answer can no longer arrive.
    const lateRun = await trigger("late");
    await waitFor("the late job to be handed out", async () => (await getRun(lateRun)).status === "RUNNING", { timeoutMs: 20_000 });
    const logAtCut = await logOf(printRun, "print");
    await new Promise((r) => setTimeout(r, CUT_MS - (Date.now() - cutAt)));
    // Nothing got through meanwhile.
    expect((await logOf(printRun, "print")).length).toBe(logAtCut.length);
    proxy.restore();

    const printed = await untilEnded(printRun, PRINT_SECONDS * 1000 + 90_000);
    expect(printed.status).toBe("SUCCESS");
    const job = printed.attempts[0].jobs[0];
    expect(job.attempts).toHaveLength(1);
    const total = Number(job.attempts[0].steps[0].outputs.total);
    expect(total).toBeGreaterThan(100);
    const log = await logOf(printRun, "print");
    const numbers = [...log.matchAll(/^line (\d+)$/gm)].map((m) => Number(m[1]));
    const missing = Array.from({ length: total }, (_, i) => i + 1).filter((n) => !numbers.includes(n));
    expect(missing, "lines missing from the stored log").toEqual([]);
    expect(numbers.length, "lines stored more than once").toBe(total);
    expect(numbers).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(log.split("\n").filter((l) => l && !/^line \d+$/.test(l)).length).toBeLessThan(5); // the agent's header and footer

    // The late job ran on the waiter from its one and only attempt: the retried claim got it back.
    const late = await untilEnded(lateRun, 90_000);
    expect(late.status).toBe("SUCCESS");
    expect(late.attempts[0].jobs[0].attempts.map((a: any) => [a.status, a.agent])).toEqual([["SUCCESS", "waiter"]]);
    expect(await logOf(lateRun, "late")).toContain("queued during the cut");
    expect(agents[1]!.output()).not.toMatch(/handed out again/);
    // Nothing is held: no job running, both agents idle.
    const queue = (await cp.api("GET", "/api/v1/queue")).json;
    expect(queue.running).toEqual([]);
    expect(proxy.resets()).toBeGreaterThan(0);
  }, 300_000);
});
