import { describe, expect, it } from "vitest";
import { job, pipeline, step } from "../../support/pipelines.ts";
import { EngineDriver } from "../../support/engine-driver.ts";

describe("run engine", () => {
  it("creates every job CREATED and queues only those with no needs", () => {
    const d = new EngineDriver(pipeline([job("test"), job("lint"), job("deploy", ["test", "lint"])]));
    expect(d.state.run.status).toBe("CREATED");
    expect(d.attempt().jobs.map((j) => j.attempts[0]!.status)).toEqual(["CREATED", "CREATED", "CREATED"]);
    expect(d.job("deploy").waitingOn).toEqual(["test", "lint"]);
    expect(d.queued()).toEqual(["test", "lint"]);
  });

  it("queues a job once all its needs succeeded, and ends the run SUCCESS", () => {
    const d = new EngineDriver(pipeline([job("test"), job("lint"), job("deploy", ["test", "lint"])]));
    d.runJob("test");
    expect(d.state.run.status).toBe("RUNNING");
    expect(d.job("deploy").waitingOn).toEqual(["lint"]);
    expect(d.queued()).toEqual(["test", "lint"]);
    d.runJob("lint", "WARNING");
    expect(d.queued()).toEqual(["test", "lint", "deploy"]);
    d.runJob("deploy");
    expect(d.attempt().status).toBe("WARNING");
    expect(d.state.run.status).toBe("WARNING");
  });

  it("marks jobs downstream of a failure KILLED with needs_failed, and the attempt FAILED", () => {
    const d = new EngineDriver(pipeline([job("a"), job("b", ["a"]), job("c", ["b"]), job("x")]));
    d.runJob("a", "FAILED");
    expect(d.latest("b").status).toBe("KILLED");
    expect(d.latest("b").reason).toBe("needs_failed");
    expect(d.latest("c").reason).toBe("needs_failed");
    expect(d.state.run.status).toBe("RUNNING"); // x has not run yet
    d.runJob("x");
    expect(d.state.run.status).toBe("FAILED");
  });

  it("retries a failed job by its policy, keeping every attempt", () => {
    const d = new EngineDriver(pipeline([job("flaky", [], { retries: 1 })]));
    d.runJob("flaky", "FAILED");
    expect(d.job("flaky").attempts.map((a) => a.status)).toEqual(["FAILED", "CREATED"]);
    expect(d.queued()).toEqual(["flaky", "flaky"]);
    d.runJob("flaky");
    expect(d.job("flaky").attempts.map((a) => a.status)).toEqual(["FAILED", "SUCCESS"]);
    expect(d.state.run.status).toBe("SUCCESS");
  });

  it("refuses an illegal transition with 409 and changes nothing", () => {
    const d = new EngineDriver(pipeline([job("a")]));
    const before = JSON.stringify(d.state);
    const r = d.finish("a", "SUCCESS"); // never claimed
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.status).toBe(409);
    expect(JSON.stringify(d.state)).toBe(before);
  });

  it("cancel: queued jobs go straight to KILLED, running ones through KILLING", () => {
    const d = new EngineDriver(pipeline([job("a"), job("b")]));
    d.assign("a");
    d.cancel();
    expect(d.latest("b").status).toBe("KILLED");
    expect(d.latest("a").status).toBe("KILLING");
    expect(d.state.run.status).toBe("KILLING");
    expect(d.effects.some((e) => e.type === "dequeue" && e.jobAttemptIds.includes(d.latest("b").id))).toBe(true);
    d.finish("a", "SUCCESS"); // the agent finished as the cancel arrived: still KILLED
    expect(d.latest("a").status).toBe("KILLED");
    expect(d.state.run.status).toBe("KILLED");
  });

  it("a KILLING job the agent never confirms is KILLED after the grace period, releasing its agent", () => {
    const d = new EngineDriver(pipeline([job("a")]));
    d.assign("a");
    d.cancel();
    d.now += 31_000;
    d.tick();
    expect(d.latest("a").status).toBe("KILLED");
    expect(d.effects.some((e) => e.type === "release")).toBe(true);
    expect(d.state.run.status).toBe("KILLED");
  });

  it("a lost agent fails the attempt with agent_lost and the job is retried", () => {
    const d = new EngineDriver(pipeline([job("a", [], { retries: 1 })]));
    d.assign("a");
    d.now += 61_000;
    d.tick();
    expect(d.job("a").attempts[0]!.reason).toBe("agent_lost");
    expect(d.job("a").attempts[1]!.status).toBe("CREATED");
    const late = d.step("a", "main", "RUNNING"); // attempt 2 is not claimed: refused
    expect(late.ok).toBe(false);
  });

  it("re-run failed-only reruns the failed job and its dependants, reuses the rest, keeps attempt 1", () => {
    const d = new EngineDriver(pipeline([job("build"), job("test", ["build"]), job("deploy", ["test"]), job("docs")]));
    d.runJob("build", "SUCCESS", { version: "1.2" });
    d.runJob("docs");
    d.runJob("test", "FAILED");
    expect(d.state.run.status).toBe("FAILED");
    const first = JSON.stringify(d.state.attempts[0]);
    d.rerun(true);
    expect(d.state.attempts).toHaveLength(2);
    expect(JSON.stringify(d.state.attempts[0])).toBe(first);
    expect(d.job("build").reused).toMatchObject({ attempt: 1, status: "SUCCESS" });
    expect(d.job("build").outputs).toEqual({ version: "1.2" });
    expect(d.job("docs").reused).not.toBeNull();
    expect(d.job("test").attempts).toHaveLength(1);
    expect(d.latest("deploy").status).toBe("CREATED");
    expect(d.queued().slice(-1)).toEqual(["test"]);
    const history = d.effects.filter((e) => e.type === "transition" && e.entity === "run").map((e) => e.type === "transition" && e.to);
    expect(history).toEqual(["CREATED", "RUNNING", "FAILED", "RESTARTED", "CREATED"]);
  });

  it("re-run of a successful run is refused", () => {
    const d = new EngineDriver(pipeline([job("a")]));
    d.runJob("a");
    const r = d.rerun();
    expect(r.ok).toBe(false);
  });

  it("step retries: a failed step attempt may start again; continue-on-error is the agent's WARNING", () => {
    const d = new EngineDriver(pipeline([job("a", [], { steps: [step("s1", [], { retries: 1 }), step("s2", ["s1"])] })]));
    d.assign("a");
    d.step("a", "s1", "RUNNING", 1);
    d.step("a", "s1", "FAILED", 1, { exitCode: 1 });
    expect(d.step("a", "s1", "RUNNING", 2).ok).toBe(true);
    expect(d.step("a", "s1", "RUNNING", 3).ok).toBe(false);
    d.step("a", "s1", "SUCCESS", 2, { exitCode: 0, outputs: { v: "1" } });
    const s1 = d.latest("a").steps[0]!;
    expect(s1.attempts.map((a) => a.status)).toEqual(["FAILED", "SUCCESS"]);
    expect(s1.status).toBe("SUCCESS");
    d.finish("a", "FAILED");
    expect(d.latest("a").steps[1]!.status).toBe("KILLED");
  });
});

describe("run engine: details", () => {
  it("records a re-run's RESTARTED on the old attempt and its CREATED on the new one", () => {
    const d = new EngineDriver(pipeline([job("a")]));
    d.runJob("a", "FAILED");
    d.rerun();
    const run = d.effects.filter((e) => e.type === "transition" && e.entity === "run").slice(-2);
    expect(run.map((e) => e.type === "transition" && [e.to, e.runAttempt])).toEqual([
      ["RESTARTED", 1],
      ["CREATED", 2],
    ]);
  });

  it("resolves templates in a step's working directory for the agent", async () => {
    const { buildJobAssignment } = await import("../../../domain/run-engine/index.ts");
    const d = new EngineDriver(pipeline([job("a", [], { steps: [step("s", [], { workingDirectory: "build/${{ run.branch }}" })] })]));
    d.assign("a");
    const a = buildJobAssignment(d.state, d.job("a"), d.latest("a"), { token: "t", secrets: {}, heartbeatIntervalMs: 5000, limits: { logChunkBytes: 1, artifactBytes: 1 } });
    expect(a.steps[0]!.workingDirectory).toBe("build/main");
  });
});
