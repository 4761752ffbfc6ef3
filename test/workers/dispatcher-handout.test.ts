/**
 * The pickup without an output-gated write ahead of the run's call (issue 20): a claim marks the
 * row it hands out in the dispatcher's memory only, asks the run, and stores the row assigned
 * once the run has accepted. An eviction between the mark and the assignment loses the mark, not
 * the job, and never hands it out twice: the row is still queued in storage, and the run refuses
 * a second assignment of the same job attempt.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DispatcherObject } from "../../durable-objects/dispatcher/index.ts";
import { claim, registerAgent } from "./agent-client.ts";
import { api, projectWithPipeline } from "./api-client.ts";
import { getRun } from "./run-helpers.ts";

const dispatcher = () => env.DISPATCHER.get(env.DISPATCHER.idFromName("default"));
const runStub = (runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));

/** What a claim does before it calls the run: choose the row and mark it, in memory. */
interface Internals {
  agents: { get(id: string): unknown };
  pick(agent: unknown): { jobAttemptId: string } | null;
}

async function oneQueuedJob(slug: string) {
  await projectWithPipeline(slug, `name: build\njobs:\n  only:\n    runs-on: [${slug}]\n    steps:\n      - run: make\n`);
  const first = await registerAgent(`${slug}-1`, [slug]);
  const second = await registerAgent(`${slug}-2`, [slug]);
  const run = await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`, { body: {} });
  expect(run.status).toBe(201);
  // The first agent's claim chooses the row and marks it; the instance is evicted before it asks the run.
  const picked = await runInDurableObject(dispatcher(), (instance: DispatcherObject) => {
    const internals = instance as unknown as Internals;
    return internals.pick(internals.agents.get(first.agentId))?.jobAttemptId;
  });
  expect(picked).toBeTruthy();
  return { runId: run.json.id as string, jobAttemptId: picked!, first, second };
}

const holder = async (runId: string) => (await getRun(runId)).attempts[0].jobs[0].attempts[0];

describe("a claim evicted between its in-memory mark and the run's assignment", () => {
  it("before the run heard of it: the row is still queued and the next claim gets the job, once", async () => {
    const { runId, jobAttemptId, first, second } = await oneQueuedJob("handout-before");
    await evictDurableObject(dispatcher());
    const got = await claim(second.token);
    expect(got.status).toBe(200);
    expect(got.json.job.attemptId).toBe(jobAttemptId);
    // The first claim's call, should it still arrive, is refused: the job has its agent.
    const late = await runStub(runId).assign({ jobAttemptId, agentId: first.agentId, agentName: "late" });
    expect(late.ok).toBe(false);
    expect(await holder(runId)).toMatchObject({ id: jobAttemptId, agentId: second.agentId, status: "RUNNING" });
    expect((await claim(first.token)).status).toBe(204);
  });

  it("after the run accepted it: a later claim asks the run again, is refused, and gets nothing", async () => {
    const { runId, jobAttemptId, first, second } = await oneQueuedJob("handout-after");
    // The first claim's call reached the run, which accepted; then the dispatcher was evicted
    // before it stored the row assigned (the first agent's answer was lost with it).
    const accepted = await runStub(runId).assign({ jobAttemptId, agentId: first.agentId, agentName: `handout-after-1` });
    expect(accepted.ok).toBe(true);
    await evictDurableObject(dispatcher());
    expect((await claim(second.token)).status).toBe(204);
    expect(await holder(runId)).toMatchObject({ id: jobAttemptId, agentId: first.agentId });
  });
});

describe("a job made ready while a claim is held", () => {
  it("goes to that claim and is stored assigned to its agent, once", async () => {
    const slug = "handout-held";
    await projectWithPipeline(slug, `name: build\njobs:\n  only:\n    runs-on: [${slug}]\n    steps:\n      - run: make\n`);
    const first = await registerAgent(`${slug}-1`, [slug]);
    const second = await registerAgent(`${slug}-2`, [slug]);
    const held = claim(first.token, 20);
    // The claim is held once the dispatcher keeps it waiting (polled, not timed).
    const waiting = () => runInDurableObject(dispatcher(), (instance: DispatcherObject) => (instance as unknown as { waiters: unknown[] }).waiters.length);
    while ((await waiting()) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const run = await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`, { body: {} });
    expect(run.status).toBe(201);
    const got = await held;
    expect(got.status).toBe(200);
    const jobAttemptId = got.json.job.attemptId as string;
    expect(await holder(run.json.id)).toMatchObject({ id: jobAttemptId, agentId: first.agentId, status: "RUNNING" });
    const stored = await runInDurableObject(dispatcher(), (instance: DispatcherObject) =>
      (instance as unknown as { queue: { get(id: string): { state: string; agentId: string | null } | null } }).queue.get(jobAttemptId),
    );
    expect(stored).toMatchObject({ state: "assigned", agentId: first.agentId });
    expect((await claim(second.token)).status).toBe(204);
  });
});
