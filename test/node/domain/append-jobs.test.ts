import { describe, expect, it } from "vitest";
import { engine, MAX_UPLOAD_DEPTH, parseUpload } from "../../../domain/run-engine/index.ts";
import { PIPELINE_DEFAULTS } from "../../../domain/pipeline/types.ts";
import { job, pipeline } from "../../support/pipelines.ts";
import { EngineDriver } from "../../support/engine-driver.ts";

/** Starts `key` (claimed, its step running), as a job that uploads does. */
function start(d: EngineDriver, key: string) {
  d.assign(key);
  d.step(key, "main", "RUNNING");
}

function upload(d: EngineDriver, key: string, text: string) {
  const parsed = parseUpload(d.state, text);
  if (!parsed.ok) throw new Error(parsed.problems.map((p) => `${p.line}:${p.column} ${p.message}`).join("; "));
  return d.apply(engine.appendJobs(d.state, d.ctx(), { jobAttemptId: d.latest(key).id, pipeline: parsed.pipeline }));
}

const build = `
jobs:
  test:
    needs: [bootstrap]
    runs-on: [linux]
    steps: [{ id: main, run: make test }]
  package:
    needs: [test]
    runs-on: [linux]
    steps: [{ id: main, run: make dist }]
`;

describe("appending uploaded jobs to a running attempt", () => {
  it("adds the jobs to the attempt and the definition; they queue once their needs (the uploader included) succeed", () => {
    const d = new EngineDriver(pipeline([job("bootstrap")]));
    start(d, "bootstrap");
    const result = upload(d, "bootstrap", build);
    expect(result.ok && result.value).toEqual({ added: ["test", "package"], unchanged: [] });
    expect(d.state.run.definition.jobs.map((j) => j.key)).toEqual(["bootstrap", "test", "package"]);
    expect(d.attempt().jobs.map((j) => j.key)).toEqual(["bootstrap", "test", "package"]);
    expect(d.job("test").waitingOn).toEqual(["bootstrap"]);
    expect(d.queued()).toEqual(["bootstrap"]);
    expect(result.ok && result.touched.run).toBe(true);

    d.step("bootstrap", "main", "SUCCESS");
    d.finish("bootstrap", "SUCCESS");
    expect(d.queued()).toEqual(["bootstrap", "test"]);
    expect(d.state.run.status).toBe("RUNNING"); // the uploaded jobs keep the run going
    d.runJob("test");
    d.runJob("package");
    expect(d.state.run.status).toBe("SUCCESS");
  });

  it("refuses keys the run already has, naming them (409), and changes nothing", () => {
    const d = new EngineDriver(pipeline([job("bootstrap"), job("test")]));
    start(d, "bootstrap");
    const before = d.state;
    const result = upload(d, "bootstrap", build);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toMatchObject({ status: 409, code: "job_keys_taken", details: { jobs: ["test"] } });
    expect(result.error.message).toContain('"test"');
    expect(d.state).toBe(before);
  });

  it("takes the same upload from the same job again as a no-op (a retried call, a re-run's bootstrap)", () => {
    const d = new EngineDriver(pipeline([job("bootstrap")]));
    start(d, "bootstrap");
    upload(d, "bootstrap", build);
    const again = upload(d, "bootstrap", build);
    expect(again.ok && again.value).toEqual({ added: [], unchanged: ["test", "package"] });
    expect(d.attempt().jobs).toHaveLength(3);
  });

  it("runs the uploaded jobs again in a re-run, and the bootstrap's upload there changes nothing", () => {
    const d = new EngineDriver(pipeline([job("bootstrap")]));
    start(d, "bootstrap");
    upload(d, "bootstrap", build);
    d.step("bootstrap", "main", "SUCCESS");
    d.finish("bootstrap", "SUCCESS");
    d.runJob("test", "FAILED");
    expect(d.state.run.status).toBe("FAILED");
    d.rerun();
    expect(d.attempt().number).toBe(2);
    expect(d.attempt().jobs.map((j) => j.key)).toEqual(["bootstrap", "test", "package"]);
    start(d, "bootstrap");
    const again = upload(d, "bootstrap", build);
    expect(again.ok && again.value.unchanged).toEqual(["test", "package"]);
    d.step("bootstrap", "main", "SUCCESS");
    d.finish("bootstrap", "SUCCESS");
    d.runJob("test");
    d.runJob("package");
    expect(d.state.run.status).toBe("SUCCESS");
  });

  it("does not run an uploaded job whose need already failed", () => {
    const d = new EngineDriver(pipeline([job("lint"), job("bootstrap")]));
    d.runJob("lint", "FAILED");
    start(d, "bootstrap");
    upload(d, "bootstrap", "jobs:\n  after-lint:\n    needs: [lint]\n    runs-on: [linux]\n    steps: [{ id: main, run: echo }]\n");
    expect(d.latest("after-lint")).toMatchObject({ status: "KILLED", reason: "needs_failed" });
    d.step("bootstrap", "main", "SUCCESS");
    d.finish("bootstrap", "SUCCESS");
    expect(d.state.run.status).toBe("FAILED");
  });

  it("lets an uploaded job upload, up to a bounded depth", () => {
    const d = new EngineDriver(pipeline([job("j0")]));
    for (let depth = 1; depth <= MAX_UPLOAD_DEPTH; depth++) {
      start(d, `j${depth - 1}`);
      const result = upload(d, `j${depth - 1}`, `jobs:\n  j${depth}:\n    runs-on: [linux]\n    steps: [{ id: main, run: echo }]\n`);
      expect(result.ok).toBe(true);
    }
    start(d, `j${MAX_UPLOAD_DEPTH}`);
    const tooDeep = upload(d, `j${MAX_UPLOAD_DEPTH}`, "jobs:\n  deeper:\n    runs-on: [linux]\n    steps: [{ id: main, run: echo }]\n");
    expect(!tooDeep.ok && tooDeep.error).toMatchObject({ status: 409, code: "upload_too_deep" });
  });

  it("refuses jobs that would make the run's definition larger than a stored pipeline may be (409)", () => {
    const d = new EngineDriver(pipeline([job("bootstrap")]));
    start(d, "bootstrap");
    const big = { ...job("big", ["bootstrap"]), env: { BLOB: "x".repeat(PIPELINE_DEFAULTS.maxDefinitionBytes) } };
    const result = engine.appendJobs(d.state, d.ctx(), { jobAttemptId: d.latest("bootstrap").id, pipeline: pipeline([big]) });
    expect(!result.ok && result.error).toMatchObject({ status: 409, code: "run_definition_too_large" });
  });

  it("refuses an upload from a job that is not running", () => {
    const d = new EngineDriver(pipeline([job("bootstrap")]));
    const parsed = parseUpload(d.state, build);
    if (!parsed.ok) throw new Error("unexpected");
    const result = engine.appendJobs(d.state, d.ctx(), { jobAttemptId: d.latest("bootstrap").id, pipeline: parsed.pipeline });
    expect(!result.ok && result.error).toMatchObject({ status: 409, code: "job_not_running" });
  });

  it("parses an upload like a stored pipeline: needs may name the run's jobs, a cycle is placed by line and column", () => {
    const d = new EngineDriver(pipeline([job("bootstrap")]));
    expect(parseUpload(d.state, build).ok).toBe(true);
    const cycle = parseUpload(d.state, "jobs:\n  a:\n    needs: [b]\n    runs-on: [linux]\n    steps: [{ run: x }]\n  b:\n    needs: [a]\n    runs-on: [linux]\n    steps: [{ run: x }]\n");
    expect(cycle.ok).toBe(false);
    if (cycle.ok) return;
    expect(cycle.problems[0]).toMatchObject({ line: 3, column: 13 });
    expect(cycle.problems[0]!.message).toContain("cycle");
    const unknown = parseUpload(d.state, "jobs:\n  a:\n    needs: [bootstrapp]\n    runs-on: [linux]\n    steps: [{ run: x }]\n");
    expect(!unknown.ok && unknown.problems[0]!.message).toContain('did you mean "bootstrap"');
  });
});
