// The OpenLineage events of runs driven through the pure engine: the mapping of DESIGN.md §3,
// the facets users rely on in Marquez, every event validated against the official schemas.
import { describe, expect, it } from "vitest";
import { PRODUCER, SCHEMA_URL } from "../../../domain/lineage/index.ts";
import { normaliseGates } from "../../../domain/pipeline/gates.ts";
import { engine } from "../../../domain/run-engine/index.ts";
import { job, pipeline, step } from "../../support/pipelines.ts";
import { expectSound } from "./helpers.ts";
import { LineageDriver } from "./lineage-driver.ts";

const etl = () =>
  pipeline(
    [
      job("extract", [], {
        lineage: { inputs: [{ namespace: "s3://raw", name: "events" }], outputs: [{ namespace: "postgres://dw:5432", name: "public.events" }] },
      }),
      job("report", ["extract"]),
    ],
    "etl",
  );

describe("lineage events of a run", () => {
  it("reports each run attempt and job attempt as its own run: OTHER, START, RUNNING on metrics, COMPLETE", () => {
    const d = new LineageDriver(etl(), { repository: "https://github.com/acme/etl", branch: "main", commit: "0123abc" });
    const attempt = d.attempt();
    const extract = d.latest("extract");
    d.later().assign("extract");
    d.later().step("extract", "main", "RUNNING");
    d.later().step("extract", "main", "SUCCESS", 1, {
      exitCode: 0,
      metrics: [
        { name: "rowCount", kind: "counter", value: 42 },
        { name: "elapsed", kind: "duration", value: 1.5 },
      ],
    });
    d.later().finish("extract", "SUCCESS");
    const report = d.latest("report");
    d.later().runJob("report");

    expectSound(d.events);
    expect(d.typesOf(attempt.id)).toEqual(["OTHER", "START", "COMPLETE"]);
    expect(d.typesOf(extract.id)).toEqual(["OTHER", "START", "RUNNING", "COMPLETE"]);
    expect(d.typesOf(report.id)).toEqual(["OTHER", "START", "COMPLETE"]);
    // Parents come first and end last.
    expect(d.events[0]!.run.runId).toBe(attempt.id);
    expect(d.events.at(-1)!.run.runId).toBe(attempt.id);

    const [created, started, running, completed] = d.eventsOf(extract.id);
    expect(completed).toMatchObject({
      producer: PRODUCER,
      schemaURL: SCHEMA_URL,
      eventTime: new Date(d.now - 1000).toISOString(),
      job: {
        namespace: "acme",
        name: "etl.extract",
        facets: {
          jobType: { processingType: "BATCH", integration: "YARDMASTER", jobType: "JOB" },
          sourceCodeLocation: { type: "git", url: "https://github.com/acme/etl", repoUrl: "https://github.com/acme/etl", version: "0123abc", branch: "main" },
        },
      },
      run: {
        runId: extract.id,
        facets: {
          parent: { run: { runId: attempt.id }, job: { namespace: "acme", name: "etl" }, root: { run: { runId: attempt.id }, job: { namespace: "acme", name: "etl" } } },
          yardmaster: { runId: d.state.run.id, runAttempt: 1, jobKey: "extract", jobAttempt: 1, status: "SUCCESS", agent: "agent-1" },
        },
      },
      inputs: [{ namespace: "s3://raw", name: "events" }],
      outputs: [{ namespace: "postgres://dw:5432", name: "public.events", outputFacets: { outputStatistics: { rowCount: 42 } } }],
    });
    expect(created!.run.facets.yardmaster).toMatchObject({ status: "CREATED", waitingOn: [] });
    expect(d.eventsOf(report.id)[0]!.run.facets.yardmaster.waitingOn).toEqual(["extract"]);
    expect(started!.eventTime).toBe(new Date(1_001_000).toISOString());
    expect(running!.run.facets.yardmaster).toMatchObject({ status: "RUNNING", step: "main", metrics: [{ step: "main", name: "rowCount", value: 42 }, { step: "main", name: "elapsed", kind: "duration" }] });
    expect(running!.outputs[0]!.outputFacets?.outputStatistics.rowCount).toBe(42);
    // The run attempt is the pipeline's run: jobType PIPELINE, no parent, no datasets of its own.
    const pipelineEvent = d.eventsOf(attempt.id)[2]!;
    expect(pipelineEvent.job).toMatchObject({ namespace: "acme", name: "etl", facets: { jobType: { jobType: "PIPELINE" } } });
    expect(pipelineEvent.run.facets.parent).toBeUndefined();
    expect(pipelineEvent.inputs).toEqual([]);
  });

  it("reports WARNING as COMPLETE, keeping Yardmaster's status in the yardmaster facet", () => {
    const d = new LineageDriver(pipeline([job("lint")]));
    d.runJob("lint", "WARNING");
    expectSound(d.events);
    const last = d.eventsOf(d.latest("lint").id).at(-1)!;
    expect(last.eventType).toBe("COMPLETE");
    expect(last.run.facets.yardmaster.status).toBe("WARNING");
    expect(d.eventsOf(d.attempt().id).at(-1)!.run.facets.yardmaster.status).toBe("WARNING");
    // Nothing said why: no warning message.
    expect(last.run.facets.yardmaster.warning).toBeUndefined();
  });

  it("says why a metric gate made a job WARNING: the metric, its value and the bound, on the job's and the run's COMPLETE", () => {
    const gates = normaliseGates([{ metric: "test.coverage", min: 80 }]);
    const d = new LineageDriver(pipeline([job("unit", [], { steps: [step("test")], gates }), job("lint")]));
    d.assign("unit");
    d.step("unit", "test", "RUNNING");
    d.step("unit", "test", "SUCCESS", 1, { exitCode: 0, metrics: [{ name: "coverage", kind: "counter", value: 70 }] });
    d.finish("unit", "SUCCESS");
    d.runJob("lint");
    expectSound(d.events);
    const unit = d.eventsOf(d.latest("unit").id).at(-1)!;
    expect(unit.eventType).toBe("COMPLETE");
    expect(unit.run.facets.yardmaster).toMatchObject({ status: "WARNING", reason: "gate_breached", warning: "gate test.coverage: 70 is below the min 80" });
    expect(unit.run.facets.errorMessage).toBeUndefined();
    // The run attempt's COMPLETE names the job; the job that passed says nothing.
    const attempt = d.eventsOf(d.attempt().id).at(-1)!;
    expect(attempt.run.facets.yardmaster).toMatchObject({ status: "WARNING", warning: 'job "unit": gate test.coverage: 70 is below the min 80' });
    expect(d.eventsOf(d.latest("lint").id).at(-1)!.run.facets.yardmaster.warning).toBeUndefined();
  });

  it("carries a failing gate's message in errorMessage", () => {
    const gates = normaliseGates([{ metric: "test.coverage", max: 99, fail: true }]);
    const d = new LineageDriver(pipeline([job("unit", [], { steps: [step("test")], gates })]));
    d.assign("unit");
    d.step("unit", "test", "RUNNING");
    d.step("unit", "test", "SUCCESS", 1, { exitCode: 0, metrics: [{ name: "coverage", kind: "counter", value: 100 }] });
    d.finish("unit", "SUCCESS");
    expectSound(d.events);
    const unit = d.eventsOf(d.latest("unit").id).at(-1)!;
    expect(unit.eventType).toBe("FAIL");
    expect(unit.run.facets.errorMessage?.message).toBe('job "unit" failed (gate_breached): gate test.coverage: 100 is above the max 99');
  });

  it("gives a retried job a new runId per attempt; the failed one ends FAIL with the failing step and its last log lines", () => {
    const d = new LineageDriver(pipeline([job("flaky", [], { retries: 1, steps: [step("setup"), step("test", ["setup"])] })]));
    const first = d.latest("flaky");
    d.assign("flaky");
    d.step("flaky", "setup", "RUNNING");
    d.step("flaky", "setup", "SUCCESS", 1, { exitCode: 0 });
    d.step("flaky", "test", "RUNNING");
    d.later().step("flaky", "test", "FAILED", 1, { exitCode: 3, reason: "exit_code" });
    const lines = Array.from({ length: 30 }, (_, i) => `\u001b[31mline ${i + 1}\u001b[0m`);
    d.logs.set(first.id, `▶ step test (attempt 1)\n${lines.join("\n")}\n■ step test (attempt 1): exit code 3 in 0.10 s\n`);
    d.finish("flaky", "FAILED");
    const second = d.latest("flaky");
    d.later().runJob("flaky");

    expectSound(d.events);
    expect(second.id).not.toBe(first.id);
    expect(d.typesOf(first.id)).toEqual(["OTHER", "START", "FAIL"]);
    expect(d.typesOf(second.id)).toEqual(["OTHER", "START", "COMPLETE"]);
    expect(d.typesOf(d.attempt().id)).toEqual(["OTHER", "START", "COMPLETE"]);
    const fail = d.eventsOf(first.id).at(-1)!;
    expect(fail.run.facets.errorMessage).toMatchObject({ message: 'step "test" of job "flaky" failed with exit code 3', programmingLanguage: "shell" });
    const trace = fail.run.facets.errorMessage!.stackTrace!.split("\n");
    expect(trace).toHaveLength(20);
    expect(trace.at(-1)).toBe("■ step test (attempt 1): exit code 3 in 0.10 s");
    expect(trace.at(-2)).toBe("line 30"); // colours stripped
    expect(d.eventsOf(second.id)[0]!.run.facets.yardmaster).toMatchObject({ jobAttempt: 2, status: "CREATED" });
  });

  it("ends jobs that never ran (needs failed) with START then ABORT at the same instant, marked neverStarted", () => {
    const d = new LineageDriver(pipeline([job("a"), job("b", ["a"]), job("c", ["b"])]));
    const b = d.latest("b");
    const c = d.latest("c");
    d.later().runJob("a", "FAILED");
    expectSound(d.events);
    for (const id of [b.id, c.id]) {
      expect(d.typesOf(id)).toEqual(["OTHER", "START", "ABORT"]);
      const [, start, abort] = d.eventsOf(id);
      expect(start!.eventTime).toBe(abort!.eventTime);
      expect(start!.run.facets.yardmaster).toMatchObject({ neverStarted: true, status: "KILLED", reason: "needs_failed" });
      expect(abort!.run.facets.yardmaster).toMatchObject({ neverStarted: true, status: "KILLED", reason: "needs_failed" });
    }
    const end = d.eventsOf(d.attempt().id).at(-1)!;
    expect(end.eventType).toBe("FAIL");
    expect(end.run.facets.errorMessage!.message).toBe('step "main" of job "a" failed');
    // The run attempt's end comes after every job's end.
    expect(d.events.at(-1)).toBe(end);
  });

  it("a skipped job ends ABORT with reason skipped; an approval's wait is OTHER before its START", () => {
    const d = new LineageDriver(
      pipeline([
        job("a"),
        job("skip", ["a"], { if: "failure()" }),
        job("ok", ["a"], { runsOn: [], steps: [], approval: { prompt: "Go?", inputs: {}, timeoutMs: null } }),
      ]),
    );
    const skip = d.latest("skip");
    const ok = d.latest("ok");
    d.later().runJob("a");
    expect(d.typesOf(skip.id)).toEqual(["OTHER", "START", "ABORT"]);
    expect(d.eventsOf(skip.id).at(-1)!.run.facets.yardmaster).toMatchObject({ status: "KILLED", reason: "skipped" });
    expect(d.typesOf(ok.id)).toEqual(["OTHER", "OTHER"]);
    expect(d.eventsOf(ok.id).at(-1)!.run.facets.yardmaster).toMatchObject({ reason: "awaiting_approval" });
    d.later().apply(engine.decideApproval(d.state, d.ctx(), "ok", { approve: true, inputs: {}, by: "pat" }));
    expect(d.typesOf(ok.id)).toEqual(["OTHER", "OTHER", "START", "COMPLETE"]);
    expectSound(d.events);
  });

  it("cancel: queued jobs ABORT at once (after a START), the running one when its agent confirms, then the attempt", () => {
    const d = new LineageDriver(pipeline([job("long"), job("other"), job("after", ["long"])]));
    const ids = { long: d.latest("long").id, other: d.latest("other").id, after: d.latest("after").id, attempt: d.attempt().id };
    d.later().assign("long");
    d.later().cancel();
    expect(d.typesOf(ids.long)).toEqual(["OTHER", "START"]); // KILLING sends nothing
    expect(d.typesOf(ids.attempt)).toEqual(["OTHER", "START"]);
    d.later().finish("long", "KILLED");
    expectSound(d.events);
    expect(d.typesOf(ids.long)).toEqual(["OTHER", "START", "ABORT"]);
    expect(d.eventsOf(ids.long).at(-1)!.run.facets.yardmaster.neverStarted).toBeUndefined();
    expect(d.typesOf(ids.other)).toEqual(["OTHER", "START", "ABORT"]);
    expect(d.typesOf(ids.after)).toEqual(["OTHER", "START", "ABORT"]);
    expect(d.typesOf(ids.attempt)).toEqual(["OTHER", "START", "ABORT"]);
    expect(d.eventsOf(ids.other).at(-1)!.run.facets.yardmaster.reason).toBe("cancelled");
  });

  it("cancel before anything ran: the run attempt too starts and aborts at the same instant", () => {
    const d = new LineageDriver(pipeline([job("a")]));
    d.later().cancel();
    expectSound(d.events);
    expect(d.typesOf(d.attempt().id)).toEqual(["OTHER", "START", "ABORT"]);
    expect(d.eventsOf(d.attempt().id).at(-1)!.run.facets.yardmaster.neverStarted).toBe(true);
  });

  it("a re-run is a new run attempt with new runIds; jobs reused by a failed-only re-run send nothing", () => {
    const d = new LineageDriver(pipeline([job("ok"), job("bad")]));
    d.runJob("ok");
    d.runJob("bad", "FAILED");
    const before = d.events.length;
    const firstAttempt = d.attempt().id;
    d.later().rerun(true);
    const again = d.attempt();
    expect(again.id).not.toBe(firstAttempt);
    d.runJob("bad");
    expectSound(d.events);
    const after = d.events.slice(before);
    expect(new Set(after.map((e) => e.run.runId))).toEqual(new Set([again.id, d.latest("bad").id]));
    expect(after.every((e) => e.job.name !== "build.ok")).toBe(true);
    expect(d.typesOf(again.id)).toEqual(["OTHER", "START", "COMPLETE"]);
    expect(d.eventsOf(again.id)[0]!.run.facets.yardmaster.runAttempt).toBe(2);
  });

  it("a lost agent fails the job (errorMessage says why); an unconfirmed cancel aborts it after the grace", () => {
    const d = new LineageDriver(pipeline([job("a"), job("b")]));
    d.assign("a");
    d.assign("b");
    d.later(61_000).tick();
    const lost = d.eventsOf(d.latest("a").id).at(-1)!;
    expect(lost.eventType).toBe("FAIL");
    expect(lost.run.facets.errorMessage!.message).toMatch(/^job "a" failed \(agent_lost\): no heartbeat from agent agent-1/);
    expect(lost.run.facets.errorMessage!.stackTrace).toBeUndefined();

    const e = new LineageDriver(pipeline([job("a")]));
    e.assign("a");
    e.later().cancel();
    e.later(31_000).tick();
    expectSound(e.events);
    expect(e.typesOf(e.latest("a").id)).toEqual(["OTHER", "START", "ABORT"]);
    expect(e.typesOf(e.attempt().id)).toEqual(["OTHER", "START", "ABORT"]);
    expectSound(d.events, false);
  });

  it("scheduled runs carry nominalTime on every event", () => {
    const nominal = Date.parse("2026-11-20T03:00:00Z");
    const d = new LineageDriver(pipeline([job("a")]), { trigger: "schedule", nominalTime: nominal });
    d.runJob("a");
    expectSound(d.events);
    for (const e of d.events) expect(e.run.facets.nominalTime?.nominalStartTime).toBe("2026-11-20T03:00:00.000Z");
    const manual = new LineageDriver(pipeline([job("a")]));
    expect(manual.events.every((e) => e.run.facets.nominalTime === undefined)).toBe(true);
  });

  it("sourceCodeLocation for every kind of repository a project may name, and none without one", () => {
    const cases: [string | null, string | undefined][] = [
      ["https://github.com/acme/etl.git", "https://github.com/acme/etl.git"],
      ["git@github.com:acme/etl.git", "ssh://git@github.com/acme/etl.git"],
      ["ssh://git@example.com:2222/acme/etl.git", "ssh://git@example.com:2222/acme/etl.git"],
      ["/srv/git/etl", "file:///srv/git/etl"],
      ["file:///srv/git/my etl", "file:///srv/git/my%20etl"],
      [null, undefined],
    ];
    for (const [repository, url] of cases) {
      const d = new LineageDriver(pipeline([job("a")]), { repository });
      d.runJob("a");
      expectSound(d.events);
      for (const e of d.events) {
        expect(e.job.facets.sourceCodeLocation?.url).toBe(url);
        if (repository) expect(e.job.facets.sourceCodeLocation?.repoUrl).toBe(repository);
      }
    }
  });

  it("outputStatistics: counters named after the facet's fields, per output when a job has several, summed over steps", () => {
    const outputs = [
      { namespace: "s3://lake", name: "orders" },
      { namespace: "s3://lake", name: "customers" },
    ];
    const d = new LineageDriver(pipeline([job("load", [], { steps: [step("one"), step("two", ["one"])], lineage: { inputs: [], outputs } })]));
    d.assign("load");
    d.step("load", "one", "RUNNING");
    d.step("load", "one", "SUCCESS", 1, { metrics: [{ name: "orders.rowCount", kind: "counter", value: 10 }, { name: "rowCount", kind: "counter", value: 99 }] });
    d.step("load", "two", "RUNNING");
    d.step("load", "two", "SUCCESS", 1, {
      metrics: [
        { name: "orders.rowCount", kind: "counter", value: 5 },
        { name: "customers.size", kind: "counter", value: 2048 },
        { name: "customers.fileCount", kind: "counter", value: 1.5 }, // not an integer: left out
        { name: "orders.size", kind: "duration", value: 3 }, // not a counter: left out
      ],
    });
    d.finish("load", "SUCCESS");
    expectSound(d.events);
    const complete = d.eventsOf(d.latest("load").id).at(-1)!;
    expect(complete.outputs.map((o) => [o.name, o.outputFacets?.outputStatistics])).toEqual([
      ["orders", expect.objectContaining({ rowCount: 15 })],
      ["customers", expect.objectContaining({ size: 2048 })],
    ]);
    expect(complete.outputs[1]!.outputFacets!.outputStatistics.fileCount).toBeUndefined();
    expect(d.typesOf(d.latest("load").id)).toEqual(["OTHER", "START", "RUNNING", "RUNNING", "COMPLETE"]);
  });
});
