/** Concurrency groups: the parser's `concurrency:` and the engine's claims, grants and supersedes (issue 17). */
import { describe, expect, it } from "vitest";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";
import type { ParseResult, Pipeline } from "../../../domain/pipeline/types.ts";
import { type Effect, engine, runView } from "../../../domain/run-engine/index.ts";
import { EngineDriver } from "../../support/engine-driver.ts";
import { job, pipeline } from "../../support/pipelines.ts";

const yaml = (...lines: string[]) => lines.join("\n") + "\n";

function ok(result: ParseResult): Pipeline {
  if (!result.ok) throw new Error(`expected a pipeline, got: ${JSON.stringify(result.problems, null, 2)}`);
  return result.pipeline;
}

const claims = (d: EngineDriver) => d.effects.filter((e): e is Extract<Effect, { type: "concurrency" }> => e.type === "concurrency");

describe("concurrency: in a pipeline file", () => {
  it("takes a group alone or with cancel-in-progress, on the pipeline and on a job", () => {
    const p = ok(
      parsePipeline(
        yaml(
          "params: { env: prod }",
          'concurrency: { group: "deploy-${{ run.branch }}-${{ params.env }}", cancel-in-progress: true }',
          "jobs:",
          "  test:",
          "    matrix: { os: [linux, mac] }",
          "    concurrency: test-${{ matrix.os }}",
          "    runs-on: linux",
          "    steps: [{ run: echo }]",
        ),
      ),
    );
    expect(p.concurrency).toEqual({ group: "deploy-${{ run.branch }}-${{ params.env }}", cancelInProgress: true });
    expect(p.jobs.map((j) => j.concurrency)).toEqual([
      { group: "test-${{ matrix.os }}", cancelInProgress: false },
      { group: "test-${{ matrix.os }}", cancelInProgress: false },
    ]);
  });

  it("refuses what a group cannot use, where it is written", () => {
    const shape = parsePipeline(yaml("concurrency: { group: x, cancel-in-progress: maybe }", "jobs: { a: { runs-on: l, steps: [{ run: e }] } }"));
    expect(shape.ok ? [] : shape.problems.map((p) => `${p.line}: ${p.message}`)).toEqual(['1: concurrency.cancel-in-progress: expected true or false, got string "maybe"']);
    const result = parsePipeline(
      yaml(
        "concurrency: { group: 'x-${{ secrets.TOKEN }}' }",
        "jobs:",
        "  a:",
        "    concurrency: { group: 'a-${{ needs.b.outputs.v }}-${{ matrix.os }}' }",
        "    runs-on: linux",
        "    steps: [{ run: echo }]",
      ),
    );
    if (result.ok) throw new Error("expected problems");
    const messages = result.problems.map((p) => `${p.line}: ${p.message}`).join("\n");
    expect(messages).toMatch(/1: .*secrets\.TOKEN.*shown to everyone/);
    expect(messages).toMatch(/4: .*needs\.b\.outputs\.v.*chosen before the job runs/);
    expect(messages).toMatch(/4: .*matrix\.os.*no matrix/);
    expect(parsePipeline(yaml("concurrency: { grup: x }", "jobs: { a: { runs-on: l, steps: [{ run: e }] } }")).ok).toBe(false);
  });
});

describe("concurrency groups in the engine", () => {
  it("a run waits for its pipeline's group: nothing queued until it is granted, released when it ends", () => {
    const def = { ...pipeline([job("build"), job("deploy", ["build"])]), concurrency: { group: "deploy-${{ run.branch }}", cancelInProgress: false } };
    const d = new EngineDriver(def);
    const attempt = d.attempt();
    expect(claims(d)).toEqual([{ type: "concurrency", op: "acquire", group: "deploy-main", holder: attempt.id, cancelInProgress: false, label: "run #1" }]);
    expect(d.queued()).toEqual([]);
    expect(d.job("build").waitingOn).toEqual(["concurrency: deploy-main"]);
    expect(d.job("deploy").waitingOn).toEqual(["build"]);
    expect(runView(d.state, new Map(), d.now).attempts[0]!.waitingOn).toEqual(["concurrency: deploy-main"]);
    // A claim is refused while the group is not held.
    expect(d.assign("build").ok).toBe(false);

    const granted = d.apply(engine.groupCall(d.state, d.ctx(), { op: "grant", holder: attempt.id }));
    expect(granted.ok && granted.value).toBe("held");
    expect(d.queued()).toEqual(["build"]);
    expect(d.job("build").waitingOn).toEqual([]);
    // The live feed's `waiting` rows: began waiting for the group, and stopped.
    expect(d.effects.filter((e) => e.type === "awaitingGroup").map((e) => e.type === "awaitingGroup" && e.group)).toEqual(["deploy-main", null]);
    d.runJob("build");
    expect(claims(d)).toHaveLength(1); // still held between jobs
    d.runJob("deploy");
    expect(d.state.run.status).toBe("SUCCESS");
    expect(claims(d).at(-1)).toEqual({ type: "concurrency", op: "release", group: "deploy-main", holder: attempt.id });
    expect(d.attempt().concurrency?.status).toBe("released");
    // A grant arriving for a holder that has ended says so: the group object gives it back.
    const late = engine.groupCall(d.state, d.ctx(), { op: "grant", holder: attempt.id });
    expect(late.ok && late.value).toBe("released");
  });

  it("a cancel releases a claim that was still waiting", () => {
    const d = new EngineDriver({ ...pipeline([job("a")]), concurrency: { group: "g", cancelInProgress: false } });
    d.cancel();
    expect(d.state.run.status).toBe("KILLED");
    expect(claims(d).map((c) => c.op)).toEqual(["acquire", "release"]);
  });

  it("superseded: the run is cancelled with reason superseded and names the newer run", () => {
    const d = new EngineDriver({ ...pipeline([job("a"), job("b", ["a"])]), concurrency: { group: "g", cancelInProgress: true } });
    const holder = d.attempt().id;
    d.apply(engine.groupCall(d.state, d.ctx(), { op: "grant", holder }));
    d.assign("a");
    d.apply(engine.groupCall(d.state, d.ctx(), { op: "supersede", holder, by: { runId: "run-2", runNumber: 2 } }));
    expect(d.latest("a")).toMatchObject({ status: "KILLING", reason: "superseded" });
    expect(d.latest("b")).toMatchObject({ status: "KILLED", reason: "superseded" });
    d.finish("a", "FAILED"); // the agent stops: KILLED, for the cancel's reason
    expect(d.latest("a")).toMatchObject({ status: "KILLED", reason: "superseded" });
    expect(d.state.run.status).toBe("KILLED");
    const view = runView(d.state, new Map(), d.now).attempts[0]!;
    expect(view.concurrency).toEqual({ group: "g", cancelInProgress: true, status: "released", supersededBy: { runId: "run-2", runNumber: 2 } });
    expect(claims(d).at(-1)?.op).toBe("release");
  });

  it("a job's own group: asked for when its needs are met, held through retries, released when it ends", () => {
    const d = new EngineDriver(
      pipeline([job("build"), job("deploy", ["build"], { retries: 1, matrix: { job: "deploy", values: { env: "eu" }, maxParallel: null }, concurrency: { group: "env-${{ matrix.env }}", cancelInProgress: false } })]),
    );
    expect(claims(d)).toEqual([]);
    d.runJob("build");
    const deploy = d.job("deploy");
    expect(claims(d)).toEqual([{ type: "concurrency", op: "acquire", group: "env-eu", holder: deploy.id, cancelInProgress: false, label: "run #1 · deploy" }]);
    expect(deploy.waitingOn).toEqual(["concurrency: env-eu"]);
    expect(d.effects.some((e) => e.type === "awaitingGroup")).toBe(true);
    d.apply(engine.groupCall(d.state, d.ctx(), { op: "grant", holder: deploy.id }));
    expect(d.queued()).toEqual(["build", "deploy"]);
    d.runJob("deploy", "FAILED");
    expect(claims(d)).toHaveLength(1); // the retry still holds it
    d.runJob("deploy");
    expect(claims(d).at(-1)).toEqual({ type: "concurrency", op: "release", group: "env-eu", holder: deploy.id });
    expect(d.state.run.status).toBe("SUCCESS");
  });

  it("a superseded job ends KILLED superseded; the jobs that need it are not run", () => {
    const d = new EngineDriver(pipeline([job("deploy", [], { concurrency: { group: "g", cancelInProgress: true } }), job("after", ["deploy"])]));
    const holder = d.job("deploy").id;
    d.apply(engine.groupCall(d.state, d.ctx(), { op: "supersede", holder, by: { runId: "run-9", runNumber: 9 } }));
    expect(d.latest("deploy")).toMatchObject({ status: "KILLED", reason: "superseded" });
    expect(d.latest("after")).toMatchObject({ status: "KILLED", reason: "needs_failed" });
    expect(d.job("deploy").concurrency).toMatchObject({ status: "released", supersededBy: { runId: "run-9", runNumber: 9 } });
    expect(d.state.run.status).toBe("KILLED");
  });

  it("a re-run asks for the group again", () => {
    const d = new EngineDriver({ ...pipeline([job("a")]), concurrency: { group: "g", cancelInProgress: false } });
    d.apply(engine.groupCall(d.state, d.ctx(), { op: "grant", holder: d.attempt().id }));
    d.runJob("a", "FAILED");
    d.rerun();
    expect(claims(d).map((c) => [c.op, c.holder])).toEqual([
      ["acquire", d.state.attempts[0]!.id],
      ["release", d.state.attempts[0]!.id],
      ["acquire", d.attempt().id],
    ]);
    expect(d.job("a").waitingOn).toEqual(["concurrency: g"]);
  });
});
