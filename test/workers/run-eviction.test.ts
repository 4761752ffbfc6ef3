/**
 * The RunObject (and the DispatcherObject) evicted from memory mid-run, as the runtime does on
 * a deploy, a restart or after idleness: everything a run needs is in the object's SQLite, so
 * the agent carries on as if nothing happened — log dedupe and gap detection, the job token,
 * step attempts, the pending cancel and its kill-grace alarm, the queue and its order — and the
 * log comes back byte for byte. (Live viewers across evictions: live-restart.test.ts.)
 */
import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent } from "./agent-client.ts";

const runs = (runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));
const dispatcher = () => env.DISPATCHER.get(env.DISPATCHER.idFromName("default"));
const getRun = async (runId: string) => (await api("GET", `/api/v1/runs/${runId}`)).json;
const enc = new TextEncoder();

async function newRun(label: string, jobs = 1) {
  const defs = Array.from({ length: jobs }, (_, i) => `  j${i}:\n    runs-on: [${label}]\n    steps:\n      - id: s\n        run: echo ${i}\n`).join("");
  await projectWithPipeline(label, `name: build\njobs:\n${defs}`);
  const agent = await registerAgent(label, [label]);
  const runId = (await api("POST", `/api/v1/projects/${label}/pipelines/build/runs`, { body: {} })).json.id as string;
  return { agent, runId };
}

async function logBytes(runId: string, jobKey: string) {
  const res = await exports.default.fetch(`http://x/api/v1/runs/${runId}/jobs/${jobKey}/log`, { headers: { authorization: "Bearer test-admin-token" } });
  return new Uint8Array(await res.arrayBuffer());
}

afterEach(() => {
  vi.useRealTimers();
});

describe("the RunObject evicted mid-run", () => {
  it("the agent carries on: token, step attempts, log dedupe and gaps survive; the log is byte-exact", async () => {
    const { agent, runId } = await newRun("evict-run");
    const assignment = (await claim(agent.token, 2)).json;
    const j = job(assignment.token, assignment.job.attemptId);
    expect((await j.step("s", { attempt: 1, status: "RUNNING" })).status).toBe(200);
    const chunks = [enc.encode("one\n"), new Uint8Array([0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xff, 0x0a]), enc.encode("three\n"), enc.encode("four\n")];
    let offset = 0;
    const send = async (seq: number) => {
      const res = await j.log(seq, offset, chunks[seq]!);
      offset += chunks[seq]!.byteLength;
      return res;
    };
    expect((await send(0)).status).toBe(200);
    expect((await send(1)).status).toBe(200);

    await evictDurableObject(runs(runId));
    // A resend of chunk 1 (its answer "lost" across the eviction) is acknowledged, not stored twice.
    expect((await j.log(1, chunks[0]!.byteLength, chunks[1]!)).json).toEqual({ nextSeq: 2, nextOffset: offset });
    // A chunk past a gap is still refused with where to resume.
    const gap = await j.log(3, offset + 100, chunks[3]!);
    expect(gap.status).toBe(409);
    expect(gap.json.error.details).toEqual({ nextSeq: 2, nextOffset: offset });
    expect((await j.heartbeat()).json).toEqual({ cancel: false });
    expect((await send(2)).status).toBe(200);

    await evictDurableObject(runs(runId));
    expect((await send(3)).status).toBe(200);
    // A resent RUNNING of the same step attempt is harmless; its end is recorded once.
    expect((await j.step("s", { attempt: 1, status: "RUNNING" })).status).toBe(200);
    expect((await j.step("s", { attempt: 1, status: "SUCCESS", exitCode: 0, outputs: { k: "v" } })).status).toBe(200);
    await evictDurableObject(runs(runId));
    expect((await j.finish({ status: "SUCCESS", outputs: { k: "v" } })).status).toBe(200);
    await evictDurableObject(runs(runId));

    const run = await getRun(runId);
    expect(run.status).toBe("SUCCESS");
    const attempt = run.attempts[0].jobs[0].attempts[0];
    expect(attempt.steps[0]).toMatchObject({ status: "SUCCESS", outputs: { k: "v" }, attempts: [{ number: 1, status: "SUCCESS" }] });
    expect(attempt.history.map((h: any) => h.to)).toEqual(["CREATED", "RUNNING", "SUCCESS"]);
    const expected = new Uint8Array(chunks.flatMap((c) => [...c]));
    expect(await logBytes(runId, "j0")).toEqual(expected);
    // The D1 listing caught up too.
    const listed = (await api("GET", `/api/v1/runs?project=evict-run`)).json.items;
    expect(listed.map((r: any) => r.status)).toEqual(["SUCCESS"]);
    // The job token of the ended job stays refused after a wake-up.
    expect((await j.heartbeat()).status).toBe(410);
  });

  it("a cancel pending across an eviction is still forced to KILLED after the kill grace, and the slot is freed", async () => {
    const { agent, runId } = await newRun("evict-cancel");
    const assignment = (await claim(agent.token, 2)).json;
    expect((await api("POST", `/api/v1/runs/${runId}/cancel`)).json.status).toBe("KILLING");
    await evictDurableObject(runs(runId));
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 31_000);
    expect(await runDurableObjectAlarm(runs(runId))).toBe(true);
    vi.useRealTimers();
    const run = await getRun(runId);
    expect(run.status).toBe("KILLED");
    expect(run.attempts[0].jobs[0].attempts[0]).toMatchObject({ status: "KILLED", reason: "cancelled" });
    expect((await job(assignment.token, assignment.job.attemptId).heartbeat()).status).toBe(410);
    const deadline = Date.now() + 5_000;
    while ((await api("GET", "/api/v1/queue")).json.running.some((e: any) => e.runId === runId)) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});

describe("the DispatcherObject evicted with jobs queued", () => {
  it("keeps the queue and its order; a held claim is dropped and the agent's next claim gets the job", async () => {
    const { agent, runId } = await newRun("evict-queue", 3);
    const before = (await api("GET", "/api/v1/queue")).json.pending.filter((e: any) => e.runId === runId);
    expect(before).toHaveLength(3);
    // A person's reorder: the last job first.
    expect((await api("POST", "/api/v1/queue/reorder", { body: { job: before[2].jobAttemptId, before: before[0].jobAttemptId } })).status).toBe(200);
    const ordered = (await api("GET", "/api/v1/queue")).json.pending.filter((e: any) => e.runId === runId).map((e: any) => e.jobKey);
    expect(ordered).toEqual(["j2", "j0", "j1"]);

    await evictDurableObject(dispatcher());
    const after = (await api("GET", "/api/v1/queue")).json.pending.filter((e: any) => e.runId === runId).map((e: any) => e.jobKey);
    expect(after).toEqual(ordered);
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const a = (await claim(agent.token, 2)).json;
      got.push(a.job.key);
      await job(a.token, a.job.attemptId).finish({ status: "SUCCESS", outputs: {} });
      await evictDurableObject(dispatcher());
    }
    expect(got).toEqual(ordered);
    expect((await claim(agent.token, 0)).status).toBe(204);
    expect((await getRun(runId)).status).toBe("SUCCESS");
  });
});
