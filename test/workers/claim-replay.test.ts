/**
 * Claim idempotency (durable-objects/dispatcher/claim-replay.ts): the answer of a claim can be
 * lost on its way back to the agent after the dispatcher handed it a job. A retry of the same
 * claim (same `claimId`) gets that same job again, instead of the job staying held by an agent
 * that never heard of it until it is declared lost. The "lost answer" is a claim made straight
 * on the dispatcher whose answer the test drops.
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { job, registerAgent } from "./agent-client.ts";

const pipeline = (label: string) => `name: build\njobs:\n  only:\n    runs-on: [${label}]\n    steps:\n      - id: s\n        run: echo hi\n`;
const dispatcher = () => env.DISPATCHER.get(env.DISPATCHER.idFromName("default"));
const claimWith = (token: string, claimId: string | undefined, waitSeconds = 0) =>
  api("POST", "/api/agent/v1/claim", { token, body: { waitSeconds, ...(claimId && { claimId }) } });
const trigger = async (slug: string) => (await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`, { body: {} })).json.id as string;
const attemptsOf = async (runId: string) => (await api("GET", `/api/v1/runs/${runId}`)).json.attempts[0].jobs[0].attempts;

describe("claim idempotency", () => {
  it("a retry of a claim whose answer was lost gets the same job, assigned once", async () => {
    await projectWithPipeline("replay", pipeline("replay"));
    const agent = await registerAgent("replayer", ["replay"]);
    // The first try is held, a job arrives and is handed to it — and its answer never arrives.
    const lost = dispatcher().claim(agent.token, 10_000, "claim-0001");
    await new Promise((r) => setTimeout(r, 100));
    const runId = await trigger("replay");
    const dropped = await lost;
    expect(dropped.ok && dropped.value?.run.id).toBe(runId);

    const lostAnswer = dropped.ok ? dropped.value! : null;
    const retry = await claimWith(agent.token, "claim-0001");
    expect(retry.status).toBe(200);
    expect(retry.json.job.attemptId).toBe(lostAnswer!.job.attemptId);
    expect({ ...retry.json, token: "" }).toEqual({ ...lostAnswer, token: "" });
    // The job token is new (tokens are not kept, only their hashes): the lost one is dead.
    expect(retry.json.token).not.toBe(lostAnswer!.token);
    expect((await job(lostAnswer!.token, lostAnswer!.job.attemptId).heartbeat()).status).toBe(401);
    // A new claim gets nothing (there is no other job).
    expect((await claimWith(agent.token, "claim-0002")).status).toBe(204);

    // The new token works, and the job was assigned once: one attempt, RUNNING.
    const j = job(retry.json.token, retry.json.job.attemptId);
    expect((await j.heartbeat()).json).toEqual({ cancel: false });
    expect((await attemptsOf(runId)).map((a: any) => a.status)).toEqual(["RUNNING"]);

    // Once the job has ended its assignment is not handed out again.
    expect((await j.finish({ status: "SUCCESS", outputs: {} })).status).toBe(200);
    expect((await claimWith(agent.token, "claim-0001")).status).toBe(204);
  });

  it("the record outlives the dispatcher being evicted from memory", async () => {
    await projectWithPipeline("replay-evict", pipeline("replay-evict"));
    const agent = await registerAgent("evicted", ["replay-evict"]);
    const lost = dispatcher().claim(agent.token, 10_000, "claim-evict");
    await new Promise((r) => setTimeout(r, 100));
    const runId = await trigger("replay-evict");
    expect((await lost).ok).toBe(true);
    await evictDurableObject(dispatcher());
    const retry = await claimWith(agent.token, "claim-evict");
    expect(retry.status).toBe(200);
    expect(retry.json.run.id).toBe(runId);
    expect((await job(retry.json.token, retry.json.job.attemptId).heartbeat()).json).toEqual({ cancel: false });
    expect((await attemptsOf(runId)).map((a: any) => a.status)).toEqual(["RUNNING"]);
  });

  it("a retry while the first try is still held replaces it and gets the next job", async () => {
    await projectWithPipeline("replay-held", pipeline("replay-held"));
    const agent = await registerAgent("holder", ["replay-held"]);
    const first = dispatcher().claim(agent.token, 10_000, "claim-held");
    await new Promise((r) => setTimeout(r, 100));
    const retry = claimWith(agent.token, "claim-held", 10);
    // The held first try is released with nothing, so the job can only go to the retry.
    expect(await first).toEqual({ ok: true, value: null });
    const runId = await trigger("replay-held");
    const answer = await retry;
    expect(answer.status).toBe(200);
    expect(answer.json.run.id).toBe(runId);
    expect((await attemptsOf(runId)).map((a: any) => a.status)).toEqual(["RUNNING"]);
  });

  it("another agent's claim with the same claimId gets nothing of it", async () => {
    await projectWithPipeline("replay-other", pipeline("replay-other"));
    const owner = await registerAgent("owner", ["replay-other"]);
    const thief = await registerAgent("thief", ["replay-other"]);
    await trigger("replay-other");
    const got = await claimWith(owner.token, "claim-shared");
    expect(got.status).toBe(200);
    expect((await claimWith(thief.token, "claim-shared")).status).toBe(204);
  });

  it("claims without a claimId work as before; a malformed claimId is a 400", async () => {
    await projectWithPipeline("replay-none", pipeline("replay-none"));
    const agent = await registerAgent("plain", ["replay-none"]);
    await trigger("replay-none");
    expect((await claimWith(agent.token, undefined)).status).toBe(200);
    expect((await claimWith(agent.token, undefined)).status).toBe(204);
    const bad = await claimWith(agent.token, "no spaces allowed");
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/claimId/);
  });
});
