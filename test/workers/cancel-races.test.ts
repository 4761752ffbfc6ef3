/**
 * Cancel in every state and cancel racing everything else, through the real HTTP API and agent
 * protocol (the Kestra complaints: executions stuck in KILLING, killed ones resubmitted). After
 * every scenario the same invariants are checked (`settled`): every job attempt is terminal —
 * none left RUNNING or KILLING —, the dispatcher holds no queue slot or agent slot for the run
 * (GET /api/v1/queue, GET /api/v1/agents), and a claim gets nothing (a KILLED job is never handed
 * out again). The kill grace and the lost-agent time are passed by moving the isolate's clock
 * (the RunObject reads Date.now()) and running the object's alarm.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent } from "./agent-client.ts";

const TERMINAL = ["SUCCESS", "WARNING", "FAILED", "KILLED"];
const stub = (runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));
const getRun = async (runId: string) => (await api("GET", `/api/v1/runs/${runId}`)).json;
const attemptsOf = (run: any) => run.attempts.flatMap((a: any) => a.jobs.flatMap((j: any) => j.attempts));

let serial = 0;
/** A project with a one-job pipeline (`retries` job retries) on its own label, its agent, and a run. */
async function setup(retries = 0) {
  const label = `cancel-${++serial}`;
  const pipeline = `name: build\njobs:\n  work:\n    runs-on: [${label}]\n    retries: ${retries}\n    steps:\n      - id: s\n        run: sleep 100\n`;
  await projectWithPipeline(label, pipeline);
  const agent = await registerAgent(label, [label]);
  const runId = (await api("POST", `/api/v1/projects/${label}/pipelines/build/runs`, { body: {} })).json.id as string;
  return { label, agent, runId };
}

async function claimJob(agentToken: string) {
  const res = await claim(agentToken, 2);
  expect(res.status, res.text).toBe(200);
  const j = job(res.json.token, res.json.job.attemptId);
  expect((await j.step("s", { attempt: 1, status: "RUNNING" })).status).toBe(200);
  return { ...j, attemptId: res.json.job.attemptId as string };
}

/** Moves the clock past `seconds` and runs the run's alarm (the RunObject's timers). */
async function after(runId: string, seconds: number) {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + seconds * 1000);
  await runDurableObjectAlarm(stub(runId));
}
afterEach(() => {
  vi.useRealTimers();
});

/** Polls (bounded) until the check passes: the dispatcher hears of a run's changes through an outbox. */
async function eventually(check: () => Promise<void>, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Nothing of the run is left running, killing, queued or held by an agent, and nothing more is handed out. */
async function settled(runId: string, agentToken: string) {
  const run = await getRun(runId);
  expect(TERMINAL, `run ${run.status}`).toContain(run.status);
  for (const a of attemptsOf(run)) expect(TERMINAL, `job attempt ${a.number}: ${a.status}`).toContain(a.status);
  await eventually(async () => {
    const queue = (await api("GET", "/api/v1/queue")).json;
    expect([...queue.pending, ...queue.running].filter((e: any) => e.runId === runId)).toEqual([]);
    const agents = (await api("GET", "/api/v1/agents")).json.items;
    expect(agents.flatMap((a: any) => a.jobs).filter((j: any) => j.runId === runId)).toEqual([]);
  });
  expect((await claim(agentToken, 0)).status).toBe(204);
  return run;
}

const runHistory = (run: any) => run.history.map((h: any) => h.to);

/**
 * Both requests in flight at once. Which is sent first alternates with the round, and the other
 * follows 0–12 ms later, to spread the interleavings inside the objects; each order is also
 * tested deliberately, one after the other, in "cancel in every state".
 */
async function race<A, B>(round: number, a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
  const lag = () => new Promise((r) => setTimeout(r, (round >> 1) % 5 * 3));
  if (round % 2 === 0) return Promise.all([a(), lag().then(b)]);
  const [y, x] = await Promise.all([b(), lag().then(a)]);
  return [x, y];
}

describe("cancel in every state", () => {
  it("CREATED (queued): KILLED at once, taken out of the queue, never handed out", async () => {
    const { agent, runId } = await setup();
    const cancelled = await api("POST", `/api/v1/runs/${runId}/cancel`);
    expect(cancelled.status).toBe(200);
    const run = await settled(runId, agent.token);
    expect(run.status).toBe("KILLED");
    expect(attemptsOf(run).map((a: any) => [a.status, a.reason])).toEqual([["KILLED", "cancelled"]]);
  });

  it("RUNNING, the agent never confirms: KILLING until the kill grace, then KILLED; the agent's late calls are refused", async () => {
    const { agent, runId } = await setup();
    const j = await claimJob(agent.token);
    expect((await api("POST", `/api/v1/runs/${runId}/cancel`)).json.status).toBe("KILLING");
    // Before the grace nothing is forced.
    await after(runId, 5);
    expect(attemptsOf(await getRun(runId))[0].status).toBe("KILLING");
    await after(runId, 30);
    const run = await settled(runId, agent.token);
    expect(run.status).toBe("KILLED");
    expect(attemptsOf(run)[0]).toMatchObject({ status: "KILLED", reason: "cancelled" });
    vi.useRealTimers();
    for (const late of [j.heartbeat(), j.step("s", { attempt: 1, status: "SUCCESS", exitCode: 0 }), j.finish({ status: "SUCCESS", outputs: {} })]) {
      expect((await late).status).toBe(410);
    }
    expect((await getRun(runId)).status).toBe("KILLED");
  });

  it("KILLING: a second cancel changes nothing; the agent's confirmation ends it KILLED", async () => {
    const { agent, runId } = await setup();
    const j = await claimJob(agent.token);
    const first = (await api("POST", `/api/v1/runs/${runId}/cancel`)).json;
    const second = await api("POST", `/api/v1/runs/${runId}/cancel`);
    expect(second.status).toBe(200);
    expect(second.json.history).toEqual(first.history);
    expect((await j.heartbeat()).json).toEqual({ cancel: true });
    // A step the agent tries to start now is refused; its finish, whatever it says, ends KILLED.
    expect((await j.step("s", { attempt: 2, status: "RUNNING" })).status).toBe(409);
    expect((await j.finish({ status: "FAILED", outputs: {} })).status).toBe(200);
    const run = await settled(runId, agent.token);
    expect(runHistory(run)).toEqual(["CREATED", "RUNNING", "KILLING", "KILLED"]);
  });

  it("terminal: 409 run_finished and nothing changes", async () => {
    const { agent, runId } = await setup();
    const j = await claimJob(agent.token);
    await j.step("s", { attempt: 1, status: "SUCCESS", exitCode: 0 });
    await j.finish({ status: "SUCCESS", outputs: {} });
    const before = await settled(runId, agent.token);
    const refused = await api("POST", `/api/v1/runs/${runId}/cancel`);
    expect(refused.status).toBe(409);
    expect(refused.json.error.code).toBe("run_finished");
    expect(await getRun(runId)).toEqual({ ...before, durationMs: expect.any(Number) });
  });

  it("a retry queued after a lost agent: cancelled while queued, never handed out; the lost agent stays refused", async () => {
    const { agent, runId } = await setup(1);
    const lost = await claimJob(agent.token);
    await after(runId, 120); // past YM_AGENT_LOST_AFTER_SECONDS: attempt 1 FAILED agent_lost, attempt 2 queued
    vi.useRealTimers();
    expect(attemptsOf(await getRun(runId)).map((a: any) => a.status)).toEqual(["FAILED", "CREATED"]);
    expect((await api("POST", `/api/v1/runs/${runId}/cancel`)).status).toBe(200);
    const run = await settled(runId, agent.token);
    expect(attemptsOf(run).map((a: any) => [a.status, a.reason])).toEqual([["FAILED", "agent_lost"], ["KILLED", "cancelled"]]);
    expect((await lost.heartbeat()).status).toBe(410);
  });
});

// Up to 80 rounds when one order keeps winning: more time than the default 30 s.
describe("cancel racing", { timeout: 90_000 }, () => {
  it("cancel × 5 at once on a running job: one KILLING, one KILLED, nothing held", async () => {
    const { agent, runId } = await setup();
    const j = await claimJob(agent.token);
    const answers = await Promise.all(Array.from({ length: 5 }, () => api("POST", `/api/v1/runs/${runId}/cancel`)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect((await j.heartbeat()).json).toEqual({ cancel: true });
    await j.finish({ status: "KILLED", outputs: {} });
    const run = await settled(runId, agent.token);
    expect(runHistory(run)).toEqual(["CREATED", "RUNNING", "KILLING", "KILLED"]);
    expect(attemptsOf(run)[0].history.map((h: any) => h.to)).toEqual(["CREATED", "RUNNING", "KILLING", "KILLED"]);
  });

  it("the agent's finish racing a cancel: either order ends consistently, nothing held (until both orders won)", async () => {
    const seen = new Set<string>();
    // 20 rounds, and more (up to 80) until both orders have won at least once.
    for (let round = 0; round < 20 || (seen.size < 2 && round < 80); round++) {
      const { agent, runId } = await setup();
      const j = await claimJob(agent.token);
      await j.step("s", { attempt: 1, status: "SUCCESS", exitCode: 0 });
      const [finished, cancelled] = await race(round, () => j.finish({ status: "SUCCESS", outputs: {} }), () => api("POST", `/api/v1/runs/${runId}/cancel`));
      expect(finished.status).toBe(200);
      const run = await settled(runId, agent.token);
      if (cancelled.status === 409) {
        // The finish came first: the run had ended.
        expect(cancelled.json.error.code).toBe("run_finished");
        expect(run.status).toBe("SUCCESS");
      } else {
        // The cancel came first: the finish is the agent's confirmation.
        expect(cancelled.status).toBe(200);
        expect(run.status).toBe("KILLED");
        expect(attemptsOf(run)[0].history.map((h: any) => h.to)).toEqual(["CREATED", "RUNNING", "KILLING", "KILLED"]);
      }
      seen.add(run.status);
    }
    expect([...seen].sort(), "both orders happened").toEqual(["KILLED", "SUCCESS"]);
  });

  it("a claim racing a cancel: the agent either gets nothing or gets a job that tells it to stop (until both orders won)", async () => {
    const seen = new Set<number>();
    // 20 rounds, and more (up to 80) until both orders have won at least once.
    for (let round = 0; round < 20 || (seen.size < 2 && round < 80); round++) {
      const { agent, runId } = await setup();
      const [claimed, cancelled] = await race(round, () => claim(agent.token, 0), () => api("POST", `/api/v1/runs/${runId}/cancel`));
      seen.add(claimed.status);
      expect(cancelled.status).toBe(200);
      if (claimed.status === 200) {
        const j = job(claimed.json.token, claimed.json.job.attemptId);
        expect((await j.heartbeat()).json).toEqual({ cancel: true });
        expect((await j.step("s", { attempt: 1, status: "RUNNING" })).status).toBe(409);
        expect((await j.finish({ status: "KILLED", outputs: {} })).status).toBe(200);
      } else {
        expect(claimed.status).toBe(204);
      }
      const run = await settled(runId, agent.token);
      expect(run.status).toBe("KILLED");
    }
    expect([...seen].sort(), "both orders happened").toEqual([200, 204]);
  });

  it("a re-run racing a cancel: the new attempt is either cancelled (never handed out) or queued once (until both orders won)", async () => {
    const seen = new Set<number>();
    // 20 rounds, and more (up to 80) until both orders have won at least once.
    for (let round = 0; round < 20 || (seen.size < 2 && round < 80); round++) {
      const { agent, runId } = await setup();
      const j = await claimJob(agent.token);
      await j.step("s", { attempt: 1, status: "FAILED", exitCode: 1 });
      await j.finish({ status: "FAILED", outputs: {} });
      await settled(runId, agent.token);
      const [rerun, cancelled] = await race(
        round,
        () => api("POST", `/api/v1/runs/${runId}/rerun`, { body: {} }),
        () => api("POST", `/api/v1/runs/${runId}/cancel`),
      );
      seen.add(cancelled.status);
      expect(rerun.status).toBe(201);
      const run = await getRun(runId);
      expect(run.attempt).toBe(2);
      if (cancelled.status === 200) {
        // The re-run came first, then the cancel killed its queued job.
        const final = await settled(runId, agent.token);
        expect(final.attempts[1].status).toBe("KILLED");
        expect(final.attempts[1].jobs[0].attempts.map((a: any) => a.status)).toEqual(["KILLED"]);
      } else {
        // The cancel came first and found the run ended; the re-run's job is queued, exactly once.
        expect(cancelled.json.error.code).toBe("run_finished");
        const second = await claim(agent.token, 2);
        expect(second.status).toBe(200);
        expect(second.json.run.attempt).toBe(2);
        expect((await claim(agent.token, 0)).status).toBe(204);
        await job(second.json.token, second.json.job.attemptId).finish({ status: "SUCCESS", outputs: {} });
        expect((await settled(runId, agent.token)).status).toBe("SUCCESS");
      }
      // Attempt 1 was never touched again.
      expect(run.attempts[0].status).toBe("FAILED");
    }
    expect([...seen].sort(), "both orders happened").toEqual([200, 409]);
  });

  it("queue cancel racing a claim of the same job: never both held and cancelled (until both orders won)", async () => {
    const seen = new Set<number>();
    // 20 rounds, and more (up to 80) until both orders have won at least once.
    for (let round = 0; round < 20 || (seen.size < 2 && round < 80); round++) {
      const { agent, runId } = await setup();
      const jobAttemptId = attemptsOf(await getRun(runId))[0].id;
      const [claimed, cancelled] = await race(
        round,
        () => claim(agent.token, 0),
        () => api("POST", "/api/v1/queue/cancel", { body: { jobs: [jobAttemptId] } }),
      );
      seen.add(claimed.status);
      expect(cancelled.status).toBe(200);
      if (claimed.status === 200) {
        const j = job(claimed.json.token, claimed.json.job.attemptId);
        const beat = (await j.heartbeat()).json;
        // Claimed before the cancel: told to stop. Claimed after it: impossible (it was KILLED).
        expect(beat).toEqual({ cancel: true });
        await j.finish({ status: "KILLED", outputs: {} });
      }
      const run = await settled(runId, agent.token);
      expect(run.status).toBe("KILLED");
    }
    expect([...seen].sort(), "both orders happened").toEqual([200, 204]);
  });
});
