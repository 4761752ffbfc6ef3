/** The engine's flow control rules, one by one: job conditions, the retry policy, matrices (issue 17). */
import { describe, expect, it } from "vitest";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";
import { engine, nextDeadline, runView, DEFAULT_SETTINGS } from "../../../domain/run-engine/index.ts";
import { EngineDriver } from "../../support/engine-driver.ts";
import { job, pipeline } from "../../support/pipelines.ts";

function failWith(d: EngineDriver, key: string, exitCode: number | null, reason = "step_failed") {
  d.assign(key);
  return d.apply(engine.finishJob(d.state, d.ctx(), d.latest(key).id, { status: "FAILED", outputs: {}, reason, exitCode }));
}

describe("job conditions", () => {
  it("skips a job whose condition is false: KILLED skipped, and the run still succeeds", () => {
    const d = new EngineDriver(pipeline([job("build"), job("deploy", ["build"], { if: "${{ run.branch == 'release' }}" }), job("after", ["deploy"])]));
    d.runJob("build");
    expect(d.latest("deploy")).toMatchObject({ status: "KILLED", reason: "skipped" });
    expect(d.latest("deploy").steps.map((s) => [s.status, s.reason])).toEqual([["KILLED", "skipped"]]);
    // A job that needs a skipped one (default success()) is skipped too, as in GitHub Actions.
    expect(d.latest("after")).toMatchObject({ status: "KILLED", reason: "skipped" });
    expect(d.state.run.status).toBe("SUCCESS");
    expect(d.queued()).toEqual(["build"]);
  });

  it("runs a job whose condition is true once its needs succeeded", () => {
    const d = new EngineDriver(pipeline([job("build"), job("deploy", ["build"], { if: "run.branch == 'main' && needs.build.outputs.ok == 'yes'" })]));
    expect(d.job("deploy").waitingOn).toEqual(["build"]);
    d.runJob("build", "SUCCESS", { ok: "yes" });
    expect(d.queued()).toEqual(["build", "deploy"]);
    d.runJob("deploy");
    expect(d.state.run.status).toBe("SUCCESS");
  });

  it("failure(): a cleanup job runs after a failure upstream, and the run still fails", () => {
    const d = new EngineDriver(
      pipeline([job("test"), job("deploy", ["test"]), job("cleanup", ["deploy"], { if: "${{ failure() }}" }), job("notify", ["test"], { if: "always()" })]),
    );
    expect(d.job("cleanup").waitingOn).toEqual(["deploy"]);
    d.runJob("test", "FAILED");
    expect(d.latest("deploy")).toMatchObject({ status: "KILLED", reason: "needs_failed" });
    // deploy never ran, but a job upstream of it failed: failure() holds.
    expect(d.queued()).toEqual(["test", "cleanup", "notify"]);
    d.runJob("cleanup");
    d.runJob("notify");
    expect(d.state.run.status).toBe("FAILED");
  });

  it("failure() is false when everything succeeded: the job is skipped", () => {
    const d = new EngineDriver(pipeline([job("test"), job("cleanup", ["test"], { if: "failure()" })]));
    d.runJob("test");
    expect(d.latest("cleanup")).toMatchObject({ status: "KILLED", reason: "skipped" });
    expect(d.state.run.status).toBe("SUCCESS");
  });

  it("a job with a status function waits for every need to end, whatever the outcome", () => {
    const d = new EngineDriver(pipeline([job("a"), job("b"), job("report", ["a", "b"], { if: "always() && needs.a.result == 'failure'" })]));
    d.runJob("a", "FAILED");
    expect(d.job("report").waitingOn).toEqual(["b"]);
    expect(d.latest("report").status).toBe("CREATED");
    d.runJob("b");
    expect(d.queued()).toEqual(["a", "b", "report"]);
  });

  it("cancelled(): true when a job upstream was cancelled (the queue's cancel)", () => {
    const d = new EngineDriver(pipeline([job("a"), job("b"), job("tidy", ["a"], { if: "cancelled()" }), job("main", ["a"])]));
    d.apply(engine.cancelJobs(d.state, d.ctx(), [d.latest("a").id]));
    expect(d.latest("main")).toMatchObject({ status: "KILLED", reason: "needs_failed" });
    expect(d.queued()).toContain("tidy");
  });

  it("cancelling the run stops conditional jobs too", () => {
    const d = new EngineDriver(pipeline([job("a"), job("cleanup", ["a"], { if: "always()" })]));
    d.assign("a");
    d.cancel();
    expect(d.latest("cleanup")).toMatchObject({ status: "KILLED", reason: "cancelled" });
  });

  it("a failed-only re-run does not run a skipped job again unless a job it needs runs again", () => {
    const d = new EngineDriver(pipeline([job("a"), job("skip", [], { if: "false" }), job("b", ["a"])]));
    d.runJob("a", "FAILED");
    d.rerun(true);
    expect(d.job("skip").reused).toMatchObject({ status: "KILLED", reason: "skipped" });
    expect(d.job("a").attempts).toHaveLength(1);
    d.runJob("a");
    d.runJob("b");
    expect(d.state.run.status).toBe("SUCCESS");
  });
});

it("a re-run whose jobs are all skipped at once ends SUCCESS, through the table", () => {
  const d = new EngineDriver(pipeline([job("a"), job("tidy", ["a"], { if: "cancelled()" }), job("b")]));
  d.apply(engine.cancelJobs(d.state, d.ctx(), [d.latest("tidy").id]));
  d.runJob("a");
  d.runJob("b");
  expect(d.state.run.status).toBe("KILLED");
  expect(d.rerun(true).ok).toBe(true);
  expect(d.latest("tidy")).toMatchObject({ status: "KILLED", reason: "skipped" });
  expect(d.state.run.status).toBe("SUCCESS");
});

describe("retry policy", () => {
  it("retries only the exit codes listed, and says why (not)", () => {
    const def = job("flaky", [], { retries: 2, retryPolicy: { backoffMs: 0, on: ["failure"], exitCodes: [75] } });
    const d = new EngineDriver(pipeline([def]));
    failWith(d, "flaky", 75);
    expect(d.job("flaky").attempts[0]!.retry).toBe("retried (failure) as attempt 2");
    expect(d.queued()).toEqual(["flaky", "flaky"]);
    failWith(d, "flaky", 1);
    expect(d.job("flaky").attempts[1]!.retry).toBe("not retried: exit code 1 is not in retries.exit-codes (75)");
    expect(d.job("flaky").attempts).toHaveLength(2);
    expect(d.state.run.status).toBe("FAILED");
  });

  it("a failure with no exit code is not retried when exit-codes are listed", () => {
    const d = new EngineDriver(pipeline([job("j", [], { retries: 1, retryPolicy: { backoffMs: 0, on: ["failure"], exitCodes: [75] } })]));
    failWith(d, "j", null);
    expect(d.latest("j").retry).toMatch(/^not retried: no exit code was reported/);
  });

  it("retries only the causes in `on`: a lost agent, not a failing step", () => {
    const d = new EngineDriver(pipeline([job("j", [], { retries: 3, retryPolicy: { backoffMs: 0, on: ["lost"], exitCodes: null } })]));
    d.assign("j");
    d.now += DEFAULT_SETTINGS.lostAfterMs + 1;
    d.tick();
    expect(d.job("j").attempts.map((a) => [a.status, a.reason, a.retry ?? null])).toEqual([
      ["FAILED", "agent_lost", "retried (lost) as attempt 2"],
      ["CREATED", null, null],
    ]);
    failWith(d, "j", 1);
    expect(d.latest("j").retry).toBe("not retried: retries.on does not include failure");
  });

  it("says when the retries are used up", () => {
    const d = new EngineDriver(pipeline([job("j", [], { retries: 1 })]));
    failWith(d, "j", 1);
    failWith(d, "j", 1);
    expect(d.job("j").attempts.map((a) => a.retry)).toEqual(["retried (failure) as attempt 2", "not retried: all 1 retries used"]);
  });

  it("backoff: the retry is queued by the clock, not at once, and holds no agent meanwhile", () => {
    const d = new EngineDriver(pipeline([job("j", [], { retries: 1, retryPolicy: { backoffMs: 10_000, on: ["failure"], exitCodes: null } }), job("next", ["j"])]));
    failWith(d, "j", 1);
    expect(d.latest("j")).toMatchObject({ status: "CREATED", queuedAt: null, notBefore: d.now + 10_000 });
    expect(d.job("j").attempts[0]!.retry).toBe("retried (failure) as attempt 2 after a 10s backoff");
    expect(d.queued()).toEqual(["j"]);
    expect(d.effects.filter((e) => e.type === "release")).toHaveLength(1);
    expect(nextDeadline(d.state, DEFAULT_SETTINGS)).toBe(d.now + 10_000);
    d.now += 9_999;
    d.tick();
    expect(d.queued()).toEqual(["j"]);
    d.now += 1;
    d.tick();
    expect(d.queued()).toEqual(["j", "j"]);
    expect(d.assign("j").ok).toBe(true);
  });

  it("a retry waiting out its backoff is cancelled at once", () => {
    const d = new EngineDriver(pipeline([job("j", [], { retries: 1, retryPolicy: { backoffMs: 60_000, on: ["failure"], exitCodes: null } })]));
    failWith(d, "j", 1);
    d.cancel();
    expect(d.latest("j").status).toBe("KILLED");
    expect(d.state.run.status).toBe("KILLED");
  });
});

describe("matrix jobs", () => {
  const parsed = (text: string) => {
    const result = parsePipeline(text);
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    return result.pipeline;
  };
  const file = [
    "jobs:",
    "  test:",
    "    matrix: { os: [linux, mac, win], max-parallel: 2 }",
    "    if: matrix.os != 'win'",
    "    runs-on: ['${{ matrix.os }}']",
    "    steps: [{ id: main, run: 'echo ${{ matrix.os }}' }]",
    "  deploy:",
    "    needs: test",
    // A skipped instance would skip a job with the default success(), as any skipped need does.
    "    if: ${{ !failure() && !cancelled() }}",
    "    runs-on: linux",
    "    steps: [{ id: main, run: deploy }]",
    "  report:",
    "    needs: test",
    "    if: always() && needs.test.result == 'failure'",
    "    runs-on: linux",
    "    steps: [{ id: main, run: report }]",
  ].join("\n");

  it("runs at most max-parallel instances at once; needs wait for every instance; conditions read matrix", () => {
    const d = new EngineDriver(parsed(file));
    expect(d.latest("test (win)")).toMatchObject({ status: "KILLED", reason: "skipped" });
    expect(d.queued()).toEqual(["test (linux)", "test (mac)"]);
    expect(d.job("deploy").waitingOn).toEqual(["test (linux)", "test (mac)"]);
    expect(d.effects.flatMap((e) => (e.type === "enqueue" ? [e.item.labels] : []))).toEqual([["linux"], ["mac"]]);
    d.runJob("test (linux)");
    d.runJob("test (mac)");
    expect(d.latest("report")).toMatchObject({ status: "KILLED", reason: "skipped" });
    d.runJob("deploy");
    expect(d.state.run.status).toBe("SUCCESS");
    const view = runView(d.state, new Map(), d.now).attempts[0]!.jobs;
    expect(view.map((j) => [j.key, j.matrix, j.matrixJob])).toEqual([
      ["test (linux)", { os: "linux" }, "test"],
      ["test (mac)", { os: "mac" }, "test"],
      ["test (win)", { os: "win" }, "test"],
      ["deploy", null, null],
      ["report", null, null],
    ]);
  });

  it("max-parallel: the next instance is queued when one ends; needs.<matrix job>.result is the worst", () => {
    const d = new EngineDriver(parsed(file.replace("if: matrix.os != 'win'", "timeout: 1h")));
    expect(d.queued()).toEqual(["test (linux)", "test (mac)"]);
    expect(d.job("test (win)").waitingOn).toEqual(["max-parallel"]);
    expect(d.assign("test (win)").ok).toBe(false);
    d.runJob("test (linux)", "FAILED");
    expect(d.queued()).toEqual(["test (linux)", "test (mac)", "test (win)"]);
    expect(d.job("test (win)").waitingOn).toEqual([]);
    d.runJob("test (mac)");
    d.runJob("test (win)");
    expect(d.latest("deploy").reason).toBe("skipped");
    expect(d.queued()).toContain("report");
  });
});

describe("re-running chosen jobs", () => {
  it("re-runs a job of a SUCCESS run and its dependants; the others carry over with their outputs", () => {
    const d = new EngineDriver(pipeline([job("build"), job("test", ["build"]), job("deploy", ["test"]), job("docs")]));
    d.runJob("build", "SUCCESS", { v: "1" });
    d.runJob("test");
    d.runJob("deploy");
    d.runJob("docs");
    expect(d.state.run.status).toBe("SUCCESS");
    expect(d.apply(engine.rerun(d.state, d.ctx(), { jobs: ["test"] })).ok).toBe(true);
    expect(d.state.attempts).toHaveLength(2);
    expect(d.attempt().rerunJobs).toEqual(["test"]);
    expect(d.job("build").reused).toMatchObject({ attempt: 1, status: "SUCCESS" });
    expect(d.job("build").outputs).toEqual({ v: "1" });
    expect(d.job("docs").reused).toMatchObject({ attempt: 1, status: "SUCCESS" });
    expect(d.job("test").attempts.map((a) => a.status)).toEqual(["CREATED"]);
    expect(d.job("deploy").waitingOn).toEqual(["test"]);
    const history = d.effects.filter((e) => e.type === "transition" && e.entity === "run").map((e) => e.type === "transition" && `${e.from}>${e.to}`);
    expect(history.slice(-2)).toEqual(["SUCCESS>RESTARTED", "RESTARTED>CREATED"]);
    d.runJob("test");
    d.runJob("deploy");
    expect(d.state.run.status).toBe("SUCCESS");
  });

  it("names a matrix job's instances by its key as written; refuses unknown jobs, an empty list, and both options", () => {
    const d = new EngineDriver(
      pipeline([
        job("t (a)", [], { matrix: { job: "t", values: { x: "a" }, maxParallel: null } }),
        job("t (b)", [], { matrix: { job: "t", values: { x: "b" }, maxParallel: null } }),
        job("z"),
      ]),
    );
    for (const key of ["t (a)", "t (b)", "z"]) d.runJob(key);
    expect(engine.rerun(d.state, d.ctx(), { jobs: ["nope"] })).toMatchObject({ ok: false, error: { status: 400, code: "unknown_job" } });
    expect(engine.rerun(d.state, d.ctx(), { jobs: [] })).toMatchObject({ ok: false, error: { status: 400, code: "no_jobs_chosen" } });
    expect(engine.rerun(d.state, d.ctx(), { jobs: ["z"], failedOnly: true })).toMatchObject({ ok: false, error: { status: 400, code: "rerun_conflict" } });
    // A SUCCESS run is re-run only by naming jobs.
    expect(engine.rerun(d.state, d.ctx(), {})).toMatchObject({ ok: false, error: { code: "run_not_rerunnable" } });
    d.apply(engine.rerun(d.state, d.ctx(), { jobs: ["t"] }));
    expect(d.attempt().jobs.map((j) => [j.key, j.reused === null])).toEqual([["t (a)", true], ["t (b)", true], ["z", false]]);
  });

  it("a running run cannot be re-run", () => {
    const d = new EngineDriver(pipeline([job("a")]));
    d.assign("a");
    expect(engine.rerun(d.state, d.ctx(), { jobs: ["a"] })).toMatchObject({ ok: false, error: { status: 409, code: "run_not_rerunnable" } });
  });
});

describe("approval jobs", () => {
  const approval = (timeoutMs: number | null = null) =>
    job("approve", ["test"], {
      runsOn: [],
      steps: [],
      approval: { prompt: "Ship it?", inputs: { reason: { type: "string", required: true }, count: { type: "number", required: false, default: "1" } }, timeoutMs },
    });

  it("waits for a person without an agent; approving ends it SUCCESS with the inputs as outputs", () => {
    const d = new EngineDriver(pipeline([job("test"), approval(), job("deploy", ["approve"])]));
    d.runJob("test");
    expect(d.job("approve").waitingOn).toEqual(["approval"]);
    expect(d.queued()).toEqual(["test"]);
    expect(d.assign("approve").ok).toBe(false);
    // details.input names the input, so the dashboard's form shows the message at its field.
    const refused = (inputs: Record<string, unknown>, code: string, input: string) =>
      expect(engine.decideApproval(d.state, d.ctx(), "approve", { approve: true, inputs, by: "pat" })).toMatchObject({
        ok: false,
        error: { status: 400, code, details: { input } },
      });
    refused({}, "missing_input", "reason");
    refused({ reason: 3 }, "invalid_input", "reason");
    refused({ reason: "x", nope: 1 }, "unknown_input", "nope");
    expect(d.apply(engine.decideApproval(d.state, d.ctx(), "approve", { approve: true, inputs: { reason: "green" }, by: "pat" })).ok).toBe(true);
    expect(d.latest("approve")).toMatchObject({ status: "SUCCESS", decidedBy: "pat", message: "approved by pat" });
    expect(d.job("approve").outputs).toEqual({ reason: "green", count: "1" });
    expect(d.queued()).toEqual(["test", "deploy"]);
    // Decided once: a second decision is refused.
    expect(engine.decideApproval(d.state, d.ctx(), "approve", { approve: false, reason: null, by: "sam" })).toMatchObject({ ok: false, error: { code: "job_not_awaiting_approval" } });
  });

  it("rejecting fails it (reason rejected, not retried) and its dependants are not run", () => {
    const d = new EngineDriver(pipeline([job("test"), { ...approval(), retries: 2 }, job("deploy", ["approve"])]));
    expect(engine.decideApproval(d.state, d.ctx(), "approve", { approve: true, inputs: { reason: "x" }, by: "pat" })).toMatchObject({
      ok: false,
      error: { code: "job_not_awaiting_approval", message: expect.stringContaining("still waits on test") },
    });
    d.runJob("test");
    d.apply(engine.decideApproval(d.state, d.ctx(), "approve", { approve: false, reason: "not today", by: "sam" }));
    expect(d.job("approve").attempts.map((a) => [a.status, a.reason, a.message])).toEqual([["FAILED", "rejected", "rejected by sam: not today"]]);
    expect(d.latest("deploy").reason).toBe("needs_failed");
    expect(d.state.run.status).toBe("FAILED");
  });

  it("times out from when it started waiting, through the clock", () => {
    const d = new EngineDriver(pipeline([job("test"), approval(60_000)]));
    d.now += 5_000;
    d.runJob("test");
    expect(nextDeadline(d.state, DEFAULT_SETTINGS)).toBe(d.now + 60_000);
    d.now += 60_000;
    d.tick();
    expect(d.latest("approve")).toMatchObject({ status: "FAILED", reason: "timeout" });
    expect(d.state.run.status).toBe("FAILED");
  });

  it("refuses a job that is not an approval, or not in the run", () => {
    const d = new EngineDriver(pipeline([job("test"), approval()]));
    expect(engine.decideApproval(d.state, d.ctx(), "test", { approve: true, inputs: {}, by: "pat" })).toMatchObject({ ok: false, error: { status: 409, code: "job_not_approval" } });
    expect(engine.decideApproval(d.state, d.ctx(), "nope", { approve: true, inputs: {}, by: "pat" })).toMatchObject({ ok: false, error: { status: 404, code: "job_not_found" } });
  });
});
