/**
 * The run's D1 projection, counted (issue 20): a one-step job costs at most six D1 statements
 * (test/support/per-job-counts.ts) from trigger to SUCCESS, because the projection is coalesced
 * (one batch per interval, one at each terminal transition) and each batch sends one statement
 * per table. A finished run is listed as finished as soon as the command that ended it has
 * answered, and dirty marks survive the object's eviction before their batch. The coalescing
 * interval is stretched here, so that the counts do not depend on how fast this machine runs the
 * test.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { D1_STATEMENTS_PER_ONE_STEP_JOB } from "../../durable-objects/run-object/d1-projection-cost.ts";
import { projectionTiming } from "../../durable-objects/run-object/outboxes.ts";
import type { RunObject } from "../../durable-objects/run-object/index.ts";
import { PER_JOB_COUNTS } from "../support/per-job-counts.ts";
import { job } from "./agent-client.ts";
import { api, projectWithPipeline } from "./api-client.ts";
import { agentWith, claimNext } from "./run-helpers.ts";

const stub = (runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));
const statementsSent = (runId: string) =>
  runInDurableObject(stub(runId), (instance: RunObject) => (instance as unknown as { outboxes: { d1: { statementsSent: number } } }).outboxes.d1.statementsSent);
const listed = async (project: string) => (await api("GET", `/api/v1/runs?project=${project}`)).json.items.map((r: any) => r.status);
const d1 = async (sql: string, runId: string) => (await env.DB.prepare(sql).bind(runId).all<any>()).results;

const oneStep = (label: string) => `name: build
jobs:
  only:
    runs-on: [${label}]
    steps:
      - id: make
        run: make
`;

async function start(slug: string) {
  await projectWithPipeline(slug, oneStep(slug));
  const agent = await agentWith(slug);
  const run = await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`, { body: { branch: "main" } });
  expect(run.status).toBe(201);
  return { agent, runId: run.json.id as string };
}

describe("the D1 projection: coalesced, counted, at once at the end", () => {
  const usual = projectionTiming.delayMs;
  beforeAll(() => {
    projectionTiming.delayMs = 10 * 60_000;
  });
  afterAll(() => {
    projectionTiming.delayMs = usual;
  });

  it("a one-step job costs at most 6 D1 statements, and its finished run is listed as finished when the finish has answered", async () => {
    const { agent, runId } = await start("count");
    expect(await listed("count")).toEqual(["CREATED"]); // the run's own row, at once
    const claimed = await claimNext(agent.token);
    const j = job(claimed.token, claimed.job.attemptId);
    expect((await j.step("make", { attempt: 1, status: "RUNNING" })).status).toBe(200);
    expect((await j.step("make", { attempt: 1, status: "SUCCESS", exitCode: 0 })).status).toBe(200);
    expect(await listed("count")).toEqual(["CREATED"]); // still gathering: nothing written meanwhile
    expect((await j.finish({ status: "SUCCESS" })).status).toBe(200);

    // The finish has answered: the listing shows the run finished, with its job and step rows.
    expect(await listed("count")).toEqual(["SUCCESS"]);
    expect(await d1("SELECT status FROM jobs WHERE run_id = ?", runId)).toEqual([{ status: "SUCCESS" }]);
    expect(await d1("SELECT status FROM job_attempts WHERE run_id = ?", runId)).toEqual([{ status: "SUCCESS" }]);
    expect(await d1("SELECT step_id, status, exit_code FROM step_runs WHERE run_id = ?", runId)).toEqual([{ step_id: "make", status: "SUCCESS", exit_code: 0 }]);
    expect(await d1("SELECT status FROM run_attempts WHERE run_id = ?", runId)).toEqual([{ status: "SUCCESS" }]);
    // One statement for the run's row at its creation, one per table at its end: exactly the
    // figure the capacity model (bench/capacity.ts) takes, within issue 20's target. Printed for
    // the benchmark "writes", which puts the count in BENCHMARKS.md.
    const statements = await statementsSent(runId);
    console.log(`one-step job, trigger → SUCCESS: ${statements} D1 statements`);
    expect(D1_STATEMENTS_PER_ONE_STEP_JOB).toBeLessThanOrEqual(PER_JOB_COUNTS.d1Statements.target);
    expect(statements).toBe(D1_STATEMENTS_PER_ONE_STEP_JOB);
  });

  it("changes marked before an eviction reach D1 from the alarm, once the object is evicted before its batch", async () => {
    const { agent, runId } = await start("evicted");
    const claimed = await claimNext(agent.token);
    expect(await d1("SELECT status FROM job_attempts WHERE run_id = ?", runId)).toEqual([]); // not yet written
    await evictDurableObject(stub(runId));
    expect(await runDurableObjectAlarm(stub(runId))).toBe(true);
    expect(await d1("SELECT id, status, agent_id FROM job_attempts WHERE run_id = ?", runId)).toEqual([
      { id: claimed.job.attemptId, status: "RUNNING", agent_id: expect.any(String) },
    ]);
    expect(await d1("SELECT status FROM runs WHERE id = ?", runId)).toEqual([{ status: "RUNNING" }]);
    expect(await d1("SELECT count(*) AS n FROM step_runs WHERE run_id = ?", runId)).toEqual([{ n: 0 }]); // written when the job ends
  });
});
