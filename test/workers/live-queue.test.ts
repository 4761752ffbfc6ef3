// The queue's live stream from the DispatcherObject: a snapshot, then every enqueue, claim,
// reorder, cancel and finish — enough for a queue page to stay right without polling.
import { describe, expect, it } from "vitest";
import { applyQueueEvent, type QueueLiveEvent, type QueueSnapshot } from "../../domain/live.ts";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, finish, openLive, registerAgent, runSteps, type Viewer } from "./live-helpers.ts";

const pipeline = (label: string) => `name: build
jobs:
  first:
    runs-on: [${label}]
    steps:
      - run: echo first
  second:
    needs: [first]
    runs-on: [${label}]
    steps:
      - run: echo second
`;

async function trigger(slug: string) {
  const run = await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`);
  expect(run.status).toBe(201);
  return run.json;
}

/** The first frame's queue with every event applied: what a queue page would show. */
function pageOf(viewer: Viewer<QueueLiveEvent>): QueueSnapshot {
  const first = viewer.frames[0]!;
  if (first.type !== "snapshot" || !first.queue) throw new Error("no snapshot");
  return viewer.events.reduce(applyQueueEvent, first.queue);
}

const ids = (q: QueueSnapshot) => ({ pending: q.pending.map((e) => e.jobAttemptId), running: q.running.map((e) => e.jobAttemptId) });

async function queueNow(): Promise<QueueSnapshot> {
  const viewer = await openLive<QueueLiveEvent>("/api/v1/queue/live");
  await viewer.until("a snapshot", () => viewer.frames[0]);
  viewer.ws.close(1000);
  return pageOf(viewer);
}

describe("queue live stream", () => {
  it("follows enqueue, reorder, claim, cancel and finish, and stays equal to the queue", async () => {
    await projectWithPipeline("q-main", pipeline("q-main"));
    const viewer = await openLive<QueueLiveEvent>("/api/v1/queue/live");
    await viewer.until("the snapshot", () => viewer.frames[0]);
    expect(viewer.frames[0]).toMatchObject({ type: "snapshot", queue: { pending: [], running: [] } });

    const a = await trigger("q-main");
    const b = await trigger("q-main");
    const c = await trigger("q-main");
    const firstOf = (run: any) => run.attempts[0].jobs[0].attempts[0].id as string;
    await viewer.until("three enqueues", () => viewer.events.filter((e) => e.kind === "enqueued").length === 3);
    expect(ids(pageOf(viewer)).pending).toEqual([firstOf(a), firstOf(b), firstOf(c)]);
    expect(viewer.events[0]).toMatchObject({ kind: "enqueued", project: "q-main", entry: { jobKey: "first", runNumber: 1, state: "queued" } });

    // c jumps the queue; a is cancelled; the agent then gets c.
    expect((await api("POST", "/api/v1/queue/reorder", { body: { job: firstOf(c), before: firstOf(a) } })).status).toBe(200);
    expect((await api("POST", `/api/v1/runs/${a.id}/cancel`)).status).toBe(200);
    await viewer.until("reorder and cancel", () => viewer.events.some((e) => e.kind === "removed"));
    expect(ids(pageOf(viewer)).pending).toEqual([firstOf(c), firstOf(b)]);

    const agent = await registerAgent("q-agent", ["q-main"]);
    const job = await claim(agent);
    expect(job.attemptId).toBe(firstOf(c));
    await viewer.until("the claim", () => viewer.events.some((e) => e.kind === "assigned"));
    expect(ids(pageOf(viewer))).toEqual({ pending: [firstOf(b)], running: [firstOf(c)] });
    expect(pageOf(viewer).running[0]).toMatchObject({ agent: "q-agent", state: "assigned" });

    await runSteps(job);
    await finish(job);
    await viewer.until("finish and the next job", () => viewer.events.filter((e) => e.kind === "enqueued").length === 4);
    const kinds = viewer.events.map((e) => e.kind);
    expect(kinds).toEqual(["enqueued", "enqueued", "enqueued", "reordered", "removed", "assigned", "removed", "enqueued"]);
    expect(viewer.events.filter((e) => e.kind === "removed").map((e) => (e as { reason: string }).reason)).toEqual(["cancelled", "finished"]);

    // What the page shows from the stream is what a fresh snapshot shows.
    expect(pageOf(viewer)).toEqual(await queueNow());
    expect(viewer.events.map((e) => e.seq)).toEqual(viewer.events.map((_, i) => viewer.frames[0]!.seq + 1 + i));
  });

  it("resumes with since, and shows a token only its projects' jobs", async () => {
    await projectWithPipeline("q-mine", pipeline("q-mine"));
    await projectWithPipeline("q-theirs", pipeline("q-theirs"));
    const token = (await api("POST", "/api/v1/tokens", { body: { name: "mine", scopes: ["read"], projects: ["q-mine"] } })).json.token;
    const ticket = (await api("POST", "/api/v1/live-tickets", { token })).json.ticket;
    const mine = await openLive<QueueLiveEvent>(`/api/v1/queue/live?ticket=${ticket}`, { token: null });
    const everything = await openLive<QueueLiveEvent>("/api/v1/queue/live");
    await mine.until("the snapshot", () => mine.frames[0]);
    const start = mine.frames[0]!.seq;

    await trigger("q-theirs");
    await trigger("q-mine");
    await trigger("q-theirs");
    await everything.until("three enqueues", () => everything.events.length === 3);
    await mine.until("one enqueue", () => mine.events.length === 1);
    expect(mine.events.map((e) => e.project)).toEqual(["q-mine"]);
    expect(pageOf(mine).pending.every((e) => e.project === "q-mine")).toBe(true);

    const resumed = await openLive<QueueLiveEvent>(`/api/v1/queue/live?since=${start}`);
    await resumed.until("the same three", () => resumed.events.length === 3);
    expect(resumed.frames[0]).toMatchObject({ type: "resumed", seq: start });
    expect(resumed.events).toEqual(everything.events);
  });

  it("refuses a non-WebSocket request, a bad since and a missing token", async () => {
    const plain = await api("GET", "/api/v1/queue/live");
    expect([plain.status, plain.json.error.code]).toEqual([426, "upgrade_required"]);
    const ahead = await api("GET", "/api/v1/queue/live?since=100000", { headers: { upgrade: "websocket" } });
    expect([ahead.status, ahead.json.error.code]).toEqual([400, "since_ahead"]);
    const anonymous = await api("GET", "/api/v1/queue/live", { token: null, headers: { upgrade: "websocket" } });
    expect(anonymous.status).toBe(401);
  });
});
