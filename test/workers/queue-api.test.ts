/** The queue (order, reorder, bulk cancel) and the agents that serve it. */
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job } from "./agent-client.ts";
import { agentWith, claimNext, getRun, jobOf } from "./run-helpers.ts";

/** Three independent jobs with different priorities, and one that needs `low`. */
const queued = (label: string) => `jobs:
  low:
    runs-on: [${label}]
    steps: [{run: x}]
  high:
    runs-on: [${label}]
    priority: 5
    steps: [{run: x}]
  mid:
    runs-on: [${label}]
    priority: 2
    steps: [{run: x}]
  after-low:
    needs: [low]
    runs-on: [${label}]
    steps: [{run: x}]
`;

async function queuedRun(slug: string) {
  await projectWithPipeline(slug, queued(slug));
  const run = (await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`, { body: {} })).json;
  const ids = Object.fromEntries(run.attempts[0].jobs.map((j: any) => [j.key, j.attempts[0].id])) as Record<string, string>;
  return { runId: run.id as string, ids };
}

const pending = async (runId: string): Promise<string[]> =>
  (await api("GET", "/api/v1/queue")).json.pending.filter((e: any) => e.runId === runId).map((e: any) => e.jobKey);

/** The run's pending jobs once they are `expected`: a run hands its jobs to the dispatcher (and takes them back) right after answering. */
async function expectPending(runId: string, expected: string[]) {
  for (let i = 0; i < 100 && JSON.stringify(await pending(runId)) !== JSON.stringify(expected); i++) await new Promise((r) => setTimeout(r, 20));
  expect(await pending(runId)).toEqual(expected);
}

describe("queue", () => {
  it("lists pending jobs in claim order (priority, then age); only jobs with their needs met are queued", async () => {
    const { runId } = await queuedRun("q-order");
    await expectPending(runId, ["high", "mid", "low"]);
    const entry = (await api("GET", "/api/v1/queue")).json.pending.find((e: any) => e.runId === runId && e.jobKey === "high");
    expect(entry).toMatchObject({ project: "q-order", pipeline: "build", runNumber: 1, runAttempt: 1, jobAttempt: 1, priority: 5, state: "queued", agent: null });
  });

  it("reorders a pending job before or after another, and agents claim in the new order", async () => {
    const { runId, ids } = await queuedRun("q-reorder");
    await expectPending(runId, ["high", "mid", "low"]);
    const before = await api("POST", "/api/v1/queue/reorder", { body: { job: ids.low, before: ids.high } });
    expect(before.status).toBe(200);
    expect(await pending(runId)).toEqual(["low", "high", "mid"]);
    expect((await api("POST", "/api/v1/queue/reorder", { body: { job: ids.high, after: ids.mid } })).status).toBe(200);
    expect(await pending(runId)).toEqual(["low", "mid", "high"]);

    const agent = await agentWith("q-reorder");
    const first = await claimNext(agent.token);
    expect(first.job.key).toBe("low");
    const running = (await api("GET", "/api/v1/queue")).json.running.find((e: any) => e.jobAttemptId === ids.low);
    expect(running).toMatchObject({ state: "assigned", agent: "agent-q-reorder" });

    // A claimed job cannot be moved (409); an unknown one is not in the queue (404).
    const claimed = await api("POST", "/api/v1/queue/reorder", { body: { job: ids.low, before: ids.mid } });
    expect(claimed.status).toBe(409);
    expect(claimed.json.error.code).toBe("already_claimed");
    const unknown = await api("POST", "/api/v1/queue/reorder", { body: { job: "0190a0a0-0000-7000-8000-000000000000", before: ids.mid } });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("not_queued");
    expect((await api("POST", "/api/v1/queue/reorder", { body: { job: ids.mid, before: ids.mid } })).json.error.code).toBe("same_job");
    for (const body of [{ job: ids.mid }, { job: ids.mid, before: ids.high, after: ids.high }, { job: "nope", before: ids.high }]) {
      const res = await api("POST", "/api/v1/queue/reorder", { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe("invalid_request");
    }
    expect(await pending(runId)).toEqual(["mid", "high"]);
  });

  it("cancels several jobs at once: queued ones end KILLED, running ones KILLING, their dependants are not run", async () => {
    const { runId, ids } = await queuedRun("q-cancel");
    await expectPending(runId, ["high", "mid", "low"]);
    const agent = await agentWith("q-cancel");
    const high = await claimNext(agent.token);
    expect(high.job.key).toBe("high");
    const unknown = "0190a0a0-0000-7000-8000-0000000000ff";
    const res = await api("POST", "/api/v1/queue/cancel", { body: { jobs: [ids.low, ids.high, unknown] } });
    expect(res.status).toBe(200);
    expect(res.json.cancelled.sort()).toEqual([ids.low, ids.high].sort());
    expect(res.json.notFound).toEqual([unknown]);

    const run = await getRun(runId);
    expect(jobOf(run, "low").attempts[0]).toMatchObject({ status: "KILLED", reason: "cancelled" });
    expect(jobOf(run, "after-low").attempts[0]).toMatchObject({ status: "KILLED", reason: "needs_failed" });
    expect(jobOf(run, "high").status).toBe("KILLING");
    expect(jobOf(run, "mid").status).toBe("CREATED");
    expect(run.status).toBe("RUNNING");
    await expectPending(runId, ["mid"]);
    expect((await job(high.token, high.job.attemptId).heartbeat()).json).toEqual({ cancel: true });

    const empty = await api("POST", "/api/v1/queue/cancel", { body: { jobs: [] } });
    expect(empty.status).toBe(400);
    expect((await api("POST", "/api/v1/queue/cancel", { body: { jobs: ["not-an-id"] } })).status).toBe(400);
  });
});

describe("agents", () => {
  it("lists agents with labels, state and current jobs; a revoked agent is refused at once", async () => {
    const { runId } = await queuedRun("q-agents");
    await expectPending(runId, ["high", "mid", "low"]);
    const agent = await agentWith("q-agents");
    const claimed = await claimNext(agent.token);
    const listed = (await api("GET", "/api/v1/agents")).json.items.find((a: any) => a.id === agent.agentId);
    expect(listed).toMatchObject({ name: "agent-q-agents", labels: ["q-agents"], version: "test", state: "busy", queue: "default" });
    expect(listed.jobs).toEqual([expect.objectContaining({ jobAttemptId: claimed.job.attemptId, runId, job: "high", project: "q-agents" })]);

    const revoked = await api("DELETE", `/api/v1/agents/${agent.agentId}`);
    expect(revoked.status).toBe(200);
    const refused = await claim(agent.token, 0);
    expect(refused.status).toBe(401);
    expect(refused.json.error.code).toBe("agent_revoked");
    expect((await api("GET", "/api/v1/agents")).json.items.find((a: any) => a.id === agent.agentId).state).toBe("revoked");

    const unknown = await api("DELETE", "/api/v1/agents/0190a0a0-0000-7000-8000-000000000000");
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("agent_not_found");
    expect((await api("DELETE", "/api/v1/agents/not-an-id")).status).toBe(400);
  });
});
