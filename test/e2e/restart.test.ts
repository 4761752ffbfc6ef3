/**
 * `wrangler dev` itself stopped and started again mid-run, with its persisted state (local D1,
 * R2 and Durable Object storage): the runs carry on. A job printing numbered lines without
 * pause keeps running on its agent through the restart (its calls fail, back off and retry) and
 * ends SUCCESS with every line stored exactly once, in order; the job that needs it runs after
 * it; a job that sat in the queue across the restart is handed to an agent started afterwards.
 * (Live viewers across a restart: live-viewers.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { controlPlaneForFile, linePrinter } from "./file-control-plane.ts";
import { type AgentProcess, type ControlPlane, startAgent, waitFor } from "./harness.ts";

let cp: ControlPlane;
const agents: AgentProcess[] = [];

controlPlaneForFile({
  project: "restart",
  // Lost after 90 s: a restart of wrangler dev (with its dashboard build) on a loaded machine
  // takes tens of seconds, and the agent backs off up to 10 s on top.
  options: { vars: { YM_AGENT_LOST_AFTER_SECONDS: "90", YM_HEARTBEAT_SECONDS: "2" } },
  started: (started) => void (cp = started),
});

const PIPELINE = `${linePrinter("ongoing", "restart-a", 35, "0.02")}  after:
    needs: [print]
    runs-on: [restart-a]
    steps:
      - run: echo "after the restart"
  parked:
    runs-on: [restart-b]
    steps:
      - run: echo "parked across the restart"
`;

const getRun = async (id: string) => (await cp.api("GET", `/api/v1/runs/${id}`)).json;
const logOf = async (id: string, job: string) => (await cp.api("GET", `/api/v1/runs/${id}/jobs/${job}/log`)).text;
const explain = (id: string) => async () =>
  `run: ${JSON.stringify(await getRun(id), null, 1).slice(0, 3000)}\n` +
  agents.map((a) => `--- agent ${a.name}\n${a.output().slice(-3000)}`).join("\n") +
  `\n--- wrangler dev\n${cp.output().slice(-3000)}`;

describe("wrangler dev restarted mid-run", () => {
  it("the run carries on to SUCCESS with its log complete and its queue intact", async () => {
    const stored = await cp.api("PUT", "/api/v1/projects/restart/pipelines/ongoing", undefined, { raw: PIPELINE, headers: { "content-type": "text/plain" } });
    expect(stored.status, stored.text).toBe(201);
    agents.push(await startAgent(cp, { name: "a", labels: ["restart-a"] }));
    const runId = (await cp.api("POST", "/api/v1/projects/restart/pipelines/ongoing/runs", {})).json.id as string;
    await waitFor("the first lines", async () => (await logOf(runId, "print")).includes("line 100\n"), { timeoutMs: 60_000, intervalMs: 250, explain: explain(runId) });

    await cp.restart();

    // After the restart the queue still holds the parked job; an agent started now gets it.
    const queue = (await cp.api("GET", "/api/v1/queue")).json;
    expect(queue.pending.map((e: any) => e.jobKey)).toContain("parked");
    agents.push(await startAgent(cp, { name: "b", labels: ["restart-b"] }));

    const run = await waitFor("the run to end", async () => {
      const r = await getRun(runId);
      return ["SUCCESS", "WARNING", "FAILED", "KILLED"].includes(r.status) ? r : null;
    }, { timeoutMs: 150_000, intervalMs: 500, explain: explain(runId) });
    expect(run.status).toBe("SUCCESS");
    const jobs = Object.fromEntries(run.attempts[0].jobs.map((j: any) => [j.key, j]));
    for (const key of ["print", "after", "parked"]) expect(jobs[key].attempts.map((a: any) => a.status), key).toEqual(["SUCCESS"]);
    expect(jobs.parked.attempts[0].agent).toBe("b");

    const total = Number(jobs.print.attempts[0].steps[0].outputs.total);
    const numbers = [...(await logOf(runId, "print")).matchAll(/^line (\d+)$/gm)].map((m) => Number(m[1]));
    expect(total).toBeGreaterThan(100);
    expect(numbers).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(await logOf(runId, "after")).toContain("after the restart");
    expect(await logOf(runId, "parked")).toContain("parked across the restart");
    // The D1 listing agrees with the run.
    const listed = (await cp.api("GET", "/api/v1/runs?project=restart")).json.items;
    expect(listed.map((r: any) => [r.id, r.status])).toEqual([[runId, "SUCCESS"]]);
    expect((await cp.api("GET", "/api/v1/queue")).json).toEqual({ pending: [], running: [] });
  }, 300_000);
});
