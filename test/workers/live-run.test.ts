// A run's live stream, through the real worker and RunObject: the snapshot is the run as the
// API shows it, then every transition and log chunk arrives once, in order, numbered.
import { describe, expect, it } from "vitest";
import { base64ToBytes, type LiveLog, type LiveTransition, type RunLiveEvent } from "../../domain/live.ts";
import { api, PIPELINE, projectWithPipeline } from "./api-client.ts";
import { claim, finish, log, logText, openLive, registerAgent, runSteps, seqs, step } from "./live-helpers.ts";

/** A run of api-client's PIPELINE whose jobs need the label `slug` (so each test claims its own). */
async function newRun(slug: string) {
  await projectWithPipeline(slug, PIPELINE.replaceAll("runs-on: [linux]", `runs-on: [${slug}]`));
  const run = await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`, { body: { branch: "main" } });
  expect(run.status).toBe(201);
  return run.json as { id: string };
}

const transitions = (events: RunLiveEvent[]) => events.filter((e): e is LiveTransition => e.kind === "transition");

describe("run live stream", () => {
  it("sends the snapshot, then every transition and log chunk in order, each once", async () => {
    const run = await newRun("live-basic");
    const viewer = await openLive(`/api/v1/runs/${run.id}/live`);
    const snapshot = await viewer.until("the snapshot", () => viewer.frames[0]);
    expect(snapshot.type).toBe("snapshot");
    const read = await api("GET", `/api/v1/runs/${run.id}`);
    // The same view, but for who acted on the run, which the REST read adds from the audit log.
    const { triggeredBy: _by, actions: _actions, ...view } = read.json;
    expect(snapshot.type === "snapshot" && snapshot.run).toEqual(view);
    expect(snapshot.seq).toBeGreaterThan(0); // the run's creation is already in the feed

    const agent = await registerAgent("live-basic", ["live-basic"]);
    const test = await claim(agent);
    expect(test.key).toBe("test");
    await step(test, "install", "RUNNING");
    await log(test, "installing\n");
    await step(test, "install", "SUCCESS", { exitCode: 0 });
    await step(test, "unit", "RUNNING");
    await log(test, "\x1b[32m✓ 12 tests\x1b[0m\n");
    await step(test, "unit", "SUCCESS", { exitCode: 0 });
    await finish(test);
    const deploy = await claim(agent);
    await runSteps(deploy);
    await log(deploy, "deployed\n");
    await finish(deploy);

    const ended = await viewer.until("the run's end", () =>
      transitions(viewer.events).find((t) => t.entity === "run" && t.to === "SUCCESS"),
    );
    // Numbered without a gap from the snapshot on, and nothing after the run's end.
    expect(seqs(viewer.events)).toEqual(viewer.events.map((_, i) => snapshot.seq + 1 + i));
    expect(viewer.events[viewer.events.length - 1]).toEqual(ended);

    // The transitions are the run's history as the API keeps it.
    const final = (await api("GET", `/api/v1/runs/${run.id}`)).json;
    const runMoves = transitions(viewer.events).filter((t) => t.entity === "run").map((t) => t.to);
    expect(final.history.map((h: { to: string }) => h.to)).toEqual(["CREATED", ...runMoves]);
    const testAttempt = final.attempts[0].jobs[0].attempts[0];
    const testMoves = transitions(viewer.events).filter((t) => t.entity === "job_attempt" && t.id === testAttempt.id);
    expect(testMoves.map((t) => [t.from, t.to, t.at])).toEqual(testAttempt.history.slice(1).map((h: any) => [h.from, h.to, h.at]));
    expect(testMoves.find((t) => t.to === "RUNNING")).toMatchObject({ jobKey: "test", jobAttempt: 1, agent: "live-basic" });
    const unitEnd = transitions(viewer.events).find((t) => t.entity === "step" && t.stepId === "unit" && t.to === "SUCCESS");
    expect(unitEnd).toMatchObject({ jobKey: "test", jobAttemptId: test.attemptId, exitCode: 0, stepAttempt: 1 });

    // Logs in place: each chunk after the step that printed it started, before it ended.
    const order = viewer.events.map((e) => (e.kind === "log" ? `log:${e.jobKey}` : e.kind === "progress" ? `progress:${e.stepId}` : e.kind === "waiting" ? `waiting:${e.jobKey}` : `${e.entity}:${e.stepId ?? e.jobKey ?? ""}:${e.to}`));
    expect(order.indexOf("log:test")).toBeGreaterThan(order.indexOf("step:install:RUNNING"));
    expect(order.indexOf("log:test")).toBeLessThan(order.indexOf("step:install:SUCCESS"));
    expect(logText(viewer.events, "test")).toBe("installing\n\x1b[32m✓ 12 tests\x1b[0m\n");
    expect(logText(viewer.events, "deploy")).toBe("deployed\n");
    const firstLog = viewer.events.find((e): e is LiveLog => e.kind === "log")!;
    expect(firstLog).toMatchObject({ jobKey: "test", jobAttemptId: test.attemptId, runAttempt: 1, jobAttempt: 1, offset: 0 });
    const second = viewer.events.filter((e): e is LiveLog => e.kind === "log" && e.jobKey === "test")[1]!;
    expect(second.offset).toBe(new TextEncoder().encode("installing\n").byteLength);
  });

  it("keeps log bytes exact: invalid UTF-8, NUL and ANSI survive the trip", async () => {
    const run = await newRun("live-bytes");
    const viewer = await openLive(`/api/v1/runs/${run.id}/live`);
    const job = await claim(await registerAgent("live-bytes", ["live-bytes"]));
    const bytes = new Uint8Array([0xff, 0xfe, 0x00, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xc3, 0x28, 0x0a, 0x80]);
    await log(job, bytes);
    const event = await viewer.until("the chunk", () => viewer.events.find((e): e is LiveLog => e.kind === "log"));
    expect([...base64ToBytes(event.data)]).toEqual([...bytes]);
  });

  it("resumes with ?since= exactly after that event: no gap, no duplicate", async () => {
    const run = await newRun("live-since");
    const first = await openLive(`/api/v1/runs/${run.id}/live`);
    const job = await claim(await registerAgent("live-since", ["live-since"]));
    await runSteps(job);
    for (let i = 0; i < 5; i++) await log(job, `line ${i}\n`);
    await finish(job);
    await first.until("the test job's end", () => transitions(first.events).find((t) => t.entity === "job_attempt" && t.to === "SUCCESS"));
    const middle = first.events[Math.floor(first.events.length / 2)]!;

    const resumed = await openLive(`/api/v1/runs/${run.id}/live?since=${middle.seq}`);
    await resumed.until("the resumed events", () => resumed.events.length >= first.events.length - first.events.indexOf(middle) - 1);
    expect(resumed.frames[0]).toMatchObject({ type: "resumed", seq: middle.seq });
    expect(resumed.events).toEqual(first.events.slice(first.events.indexOf(middle) + 1));

    // since=0: the whole feed from the run's creation, without a snapshot.
    const all = await openLive(`/api/v1/runs/${run.id}/live?since=0`);
    await all.until("the whole feed", () => all.events.length >= first.events[first.events.length - 1]!.seq);
    expect(seqs(all.events)).toEqual(all.events.map((_, i) => i + 1));
    expect(all.events.slice(-first.events.length)).toEqual(first.events);
  });

  it("narrows to one job with ?job=: its transitions and logs, and the run's own", async () => {
    const run = await newRun("live-narrow");
    const viewer = await openLive(`/api/v1/runs/${run.id}/live?job=deploy`);
    const agent = await registerAgent("live-narrow", ["live-narrow"]);
    const test = await claim(agent);
    await runSteps(test);
    await log(test, "test output\n");
    await finish(test);
    const deploy = await claim(agent);
    await runSteps(deploy);
    await log(deploy, "deploy output\n");
    await finish(deploy);
    await viewer.until("the run's end", () => transitions(viewer.events).find((t) => t.entity === "run" && t.to === "SUCCESS"));
    expect(viewer.events.every((e) => e.kind === "log" ? e.jobKey === "deploy" : e.jobKey === undefined || e.jobKey === "deploy")).toBe(true);
    expect(logText(viewer.events)).toBe("deploy output\n");
    expect(transitions(viewer.events).some((t) => t.entity === "step" && t.jobKey === "deploy")).toBe(true);
    // Still in order, and the frame's seq lets it resume past the other job's events.
    const s = seqs(viewer.events);
    expect(s).toEqual([...s].sort((a, b) => a - b));
    const lastFrame = viewer.frames[viewer.frames.length - 1]!;
    expect(lastFrame.seq).toBe(s[s.length - 1]);
  });

  it("follows a re-run: the new attempt's transitions carry its number", async () => {
    const run = await newRun("live-rerun");
    const viewer = await openLive(`/api/v1/runs/${run.id}/live`);
    expect((await api("POST", `/api/v1/runs/${run.id}/cancel`)).status).toBe(200);
    expect((await api("POST", `/api/v1/runs/${run.id}/rerun`, { body: {} })).status).toBe(201);
    await viewer.until("attempt 2's jobs", () => transitions(viewer.events).filter((t) => t.runAttempt === 2 && t.entity === "job_attempt").length === 2);
    const runMoves = transitions(viewer.events).filter((t) => t.entity === "run").map((t) => t.to);
    expect(runMoves).toEqual(["KILLING", "KILLED", "RESTARTED", "CREATED"]);
    expect(transitions(viewer.events).find((t) => t.entity === "run_attempt" && t.runAttempt === 2)).toMatchObject({ to: "CREATED" });
  });

  it("batches: a burst of chunks arrives in a few frames", async () => {
    const run = await newRun("live-batch");
    const viewer = await openLive(`/api/v1/runs/${run.id}/live?job=test`);
    const job = await claim(await registerAgent("live-batch", ["live-batch"]));
    await step(job, "install", "RUNNING");
    let expected = "";
    for (let i = 0; i < 200; i++) {
      const line = `line ${i} ${"x".repeat(50)}\n`;
      expected += line;
      await log(job, line);
    }
    await viewer.until("every chunk", () => viewer.events.filter((e) => e.kind === "log").length === 200);
    expect(logText(viewer.events)).toBe(expected);
    const frames = viewer.frames.filter((f) => f.type === "events").length;
    expect(frames).toBeLessThan(200 / 4);
  });
});

describe("run live stream: refusals", () => {
  it("answers clear 4xx errors before upgrading", async () => {
    const run = await newRun("live-refuse");
    const ws = { upgrade: "websocket" };
    const cases: [string, Record<string, string>, number, string][] = [
      [`/api/v1/runs/${run.id}/live?since=-1`, ws, 400, "invalid_request"],
      [`/api/v1/runs/${run.id}/live?since=abc`, ws, 400, "invalid_request"],
      [`/api/v1/runs/${run.id}/live?since=999999`, ws, 400, "since_ahead"],
      [`/api/v1/runs/${run.id}/live?job=nope`, ws, 404, "job_not_found"],
      [`/api/v1/runs/${run.id}/live`, {}, 426, "upgrade_required"],
      ["/api/v1/runs/0190a0a0-0000-7000-8000-000000000000/live", ws, 404, "run_not_found"],
      ["/api/v1/runs/not-a-uuid/live", ws, 400, "invalid_request"],
    ];
    for (const [path, headers, status, code] of cases) {
      const response = await api("GET", path, { headers });
      expect([path, response.status, response.json?.error?.code]).toEqual([path, status, code]);
      expect(response.json.error.message.length).toBeGreaterThan(10);
    }
    const anonymous = await api("GET", `/api/v1/runs/${run.id}/live`, { token: null, headers: ws });
    expect([anonymous.status, anonymous.json.error.code]).toEqual([401, "unauthorized"]);
  });

  it("hides runs of projects a token may not see", async () => {
    const run = await newRun("live-hidden");
    await projectWithPipeline("live-other");
    const token = (await api("POST", "/api/v1/tokens", { body: { name: "other", scopes: ["read"], projects: ["live-other"] } })).json.token;
    const refused = await api("GET", `/api/v1/runs/${run.id}/live`, { token, headers: { upgrade: "websocket" } });
    expect([refused.status, refused.json.error.code]).toEqual([404, "run_not_found"]);
  });

  it("closes a socket that sends something other than an ack with 4400", async () => {
    const run = await newRun("live-badframe");
    const viewer = await openLive(`/api/v1/runs/${run.id}/live`);
    await viewer.until("the snapshot", () => viewer.frames[0]);
    viewer.ws.send("hello?");
    const closed = await viewer.closed;
    expect(closed.code).toBe(4400);
    expect(closed.reason).toContain('"ack"');
  });
});
