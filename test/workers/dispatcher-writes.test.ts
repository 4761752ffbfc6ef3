/**
 * The hot path writes little (issue 14.4): an idle agent's heartbeats keep its last-seen time in
 * memory and reach storage at most every 30 s; and a job costs the dispatcher few requests.
 * The figures are in BENCHMARKS.md ("Dispatcher writes and requests per job").
 */
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { DispatcherObject } from "../../durable-objects/dispatcher/index.ts";
import { claim, job, registerAgent } from "./agent-client.ts";
import { api, projectWithPipeline } from "./api-client.ts";

const dispatcher = () => env.DISPATCHER.get(env.DISPATCHER.idFromName("default"));
const heartbeat = (token: string) => api("POST", "/api/agent/v1/heartbeat", { token, body: { jobs: [] } });

/** Gives the dispatcher a clock the test moves, so a minute passes without waiting for it. */
async function simulatedClock(): Promise<{ advance: (ms: number) => void }> {
  let now = Date.now();
  await runInDurableObject(dispatcher(), (instance: DispatcherObject) => {
    (instance as unknown as { clock: () => number }).clock = () => now;
  });
  return { advance: (ms) => void (now += ms) };
}

describe("dispatcher writes", () => {
  it("an idle agent heartbeating every 5 s for a minute writes at most 2 storage rows", async () => {
    const agent = await registerAgent("idle", ["linux"]);
    const clock = await simulatedClock();
    const before = await dispatcher().stats();
    for (let beat = 0; beat < 12; beat++) {
      clock.advance(5_000);
      expect((await heartbeat(agent.token)).status).toBe(200);
    }
    const after = await dispatcher().stats();
    const written = after.rowsWritten - before.rowsWritten;
    console.log(`idle agent, 12 heartbeats over a simulated minute: ${written} rows written`);
    expect(written).toBeLessThanOrEqual(2);
    // The agents page sees the last heartbeat, not the last write.
    const listed = (await api("GET", "/api/v1/agents")).json.items.find((a: { id: string }) => a.id === agent.agentId);
    expect(listed.state).toBe("idle");
  });

  it("a job costs the dispatcher one agent call (the claim) and two run calls (enqueue, release)", async () => {
    await projectWithPipeline("writes", "name: build\njobs:\n  one:\n    runs-on: [writes]\n    steps:\n      - run: echo hi\n");
    const agent = await registerAgent("worker", ["writes"]);
    const before = await dispatcher().stats();
    expect((await api("POST", "/api/v1/projects/writes/pipelines/build/runs", { body: {} })).status).toBe(201);
    const given = (await claim(agent.token)).json;
    const running = job(given.token, given.job.attemptId);
    expect((await running.step(given.steps[0].id, { attempt: 1, status: "RUNNING" })).status).toBe(200);
    expect((await running.step(given.steps[0].id, { attempt: 1, status: "SUCCESS", exitCode: 0 })).status).toBe(200);
    expect((await running.finish({ status: "SUCCESS" })).status).toBe(200);
    // The release travels through the run's outbox: wait until the dispatcher holds nothing.
    while (await dispatcher().holdsJobs()) await new Promise((r) => setTimeout(r, 20));
    const after = await dispatcher().stats();
    const perJob = { agentCalls: after.agentCalls - before.agentCalls, runCalls: after.runCalls - before.runCalls, rowsWritten: after.rowsWritten - before.rowsWritten };
    console.log(`one job: ${JSON.stringify(perJob)}`);
    expect(perJob.agentCalls).toBe(1);
    expect(perJob.runCalls).toBe(2);
  });
});
