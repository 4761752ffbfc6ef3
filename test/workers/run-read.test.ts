/**
 * GET /api/v1/runs/:run is answered from the view its RunObject keeps serialized between the
 * run's changes (durable-objects/run-object/run-reads.ts): what users rely on is that a read after
 * any change shows it, that a view with something running is never kept (its durations count
 * on), and that the answer is the run's view as the object's other answers give it.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { job } from "./agent-client.ts";
import { api, projectWithPipeline } from "./api-client.ts";
import { agentWith, claimNext, getRun, jobOf, labelledPipeline } from "./run-helpers.ts";

const runs = (runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));
const actionsOf = (run: any) => run.actions.map((a: { action: string }) => a.action);

/** Waits until the clock has moved on by `ms` (a running thing's duration then differs). */
async function clockMoves(ms: number) {
  const from = Date.now();
  while (Date.now() - from < ms) await new Promise((r) => setTimeout(r, ms));
}

describe("a run's read, kept between its changes", () => {
  it("shows each change at the next read: a claim, a step, a finish, a cancel, a re-run, and who acted", async () => {
    await projectWithPipeline("rr-changes", labelledPipeline("rr-changes"));
    const agent = await agentWith("rr-changes");
    const run = (await api("POST", "/api/v1/projects/rr-changes/pipelines/build/runs")).json;
    const first = await api("GET", `/api/v1/runs/${run.id}`);
    expect(first.json).toMatchObject({ status: "CREATED", attempt: 1 });
    expect(actionsOf(first.json)).toEqual(["run.trigger"]);
    // Nothing changed, nothing runs: the same answer.
    expect((await api("GET", `/api/v1/runs/${run.id}`)).text).toBe(first.text);

    const claimed = await claimNext(agent.token);
    const step = claimed.steps[0]!;
    expect(jobOf(await getRun(run.id), claimed.job.key).agent).toBe("agent-rr-changes");
    const j = job(claimed.token, claimed.job.attemptId);
    expect((await j.step(step.id, { attempt: 1, status: "RUNNING" })).status).toBe(200);
    expect(jobOf(await getRun(run.id), claimed.job.key).attempts[0].steps[0]).toMatchObject({ id: step.id, status: "RUNNING", endedAt: null });
    expect((await j.step(step.id, { attempt: 1, status: "SUCCESS", exitCode: 0, outputs: { version: "1.2.3" } })).status).toBe(200);
    expect(jobOf(await getRun(run.id), claimed.job.key).attempts[0].steps[0]).toMatchObject({ status: "SUCCESS", exitCode: 0 });
    expect((await j.finish({ status: "SUCCESS", outputs: { version: "1.2.3" } })).status).toBe(200);
    const finished = jobOf(await getRun(run.id), claimed.job.key);
    expect([finished.status, finished.attempts[0].status]).toEqual(["SUCCESS", "SUCCESS"]);

    expect((await api("POST", `/api/v1/runs/${run.id}/cancel`)).status).toBe(200);
    const cancelled = await getRun(run.id);
    expect(cancelled.status).toBe("KILLED");
    expect(actionsOf(cancelled)).toEqual(["run.trigger", "run.cancel"]);

    expect((await api("POST", `/api/v1/runs/${run.id}/rerun`, { body: {} })).status).toBe(201);
    const rerun = await getRun(run.id);
    expect([rerun.attempt, rerun.attempts[1].status]).toEqual([2, "CREATED"]);
    expect(rerun.attempts[0]).toEqual(cancelled.attempts[0]);
    expect(actionsOf(rerun)).toEqual(["run.trigger", "run.cancel", "run.rerun"]);
  });

  it("never keeps a view in which something runs: the running job's and step's durations count on between reads", async () => {
    await projectWithPipeline("rr-running", labelledPipeline("rr-running"));
    const agent = await agentWith("rr-running");
    const run = (await api("POST", "/api/v1/projects/rr-running/pipelines/build/runs")).json;
    const claimed = await claimNext(agent.token);
    expect((await job(claimed.token, claimed.job.attemptId).step(claimed.steps[0]!.id, { attempt: 1, status: "RUNNING" })).status).toBe(200);
    const before = await getRun(run.id);
    await clockMoves(20);
    const after = await getRun(run.id);
    const [a, b] = [jobOf(before, claimed.job.key).attempts[0], jobOf(after, claimed.job.key).attempts[0]];
    expect(b.durationMs).toBeGreaterThan(a.durationMs);
    expect(b.steps[0].durationMs).toBeGreaterThan(a.steps[0].durationMs);
    expect(after.durationMs).toBeGreaterThan(before.durationMs);
  });

  it("answers the object's view with who acted, as JSON, the same again after the object was evicted", async () => {
    await projectWithPipeline("rr-same", labelledPipeline("rr-same"));
    const run = (await api("POST", "/api/v1/projects/rr-same/pipelines/build/runs")).json;
    expect((await api("POST", `/api/v1/runs/${run.id}/cancel`)).status).toBe(200);
    const read = await api("GET", `/api/v1/runs/${run.id}`);
    expect(read.status).toBe(200);
    expect(read.headers.get("content-type")).toBe("application/json");
    const view = await runs(run.id).get();
    expect(view.ok).toBe(true);
    expect(read.json).toEqual(JSON.parse(JSON.stringify(view.ok && view.value)));
    await evictDurableObject(runs(run.id));
    expect((await api("GET", `/api/v1/runs/${run.id}`)).text).toBe(read.text);
  });

  it("a run whose object kept no actions (from before run_actions) shows who acted from D1's audit log", async () => {
    await projectWithPipeline("rr-legacy", labelledPipeline("rr-legacy"));
    const run = (await api("POST", "/api/v1/projects/rr-legacy/pipelines/build/runs")).json;
    // As an object from before: no run_actions rows (D1 has the trigger's record, flushed before the answer).
    await runInDurableObject(runs(run.id), (_instance, state) => {
      state.storage.sql.exec("DELETE FROM run_actions");
    });
    await evictDurableObject(runs(run.id));
    const read = await api("GET", `/api/v1/runs/${run.id}`);
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({ id: run.id, status: "CREATED", triggeredBy: { id: "admin-token" } });
    expect(actionsOf(read.json)).toEqual(["run.trigger"]);
  });
});
