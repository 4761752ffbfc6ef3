// Whatever happens to a run — claims, step reports, retries, failures, cancels, re-runs, lost
// agents, in any order, refused or not — every run attempt and job attempt gets a sound
// OpenLineage run cycle, and every event is valid against the official schemas.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { engine } from "../../../domain/run-engine/index.ts";
import { isTerminal } from "../../../domain/states.ts";
import { job, pipeline, step } from "../../support/pipelines.ts";
import { expectSound } from "./helpers.ts";
import { LineageDriver } from "./lineage-driver.ts";

const definition = pipeline(
  [
    job("a", [], { retries: 1, steps: [step("s1"), step("s2", ["s1"], { continueOnError: true })] }),
    job("b", ["a"], { lineage: { inputs: [{ namespace: "s3://raw", name: "events" }], outputs: [{ namespace: "s3://lake", name: "events" }] } }),
    job("c", [], { retries: 2 }),
    job("d", ["b", "c"]),
  ],
  "random",
);
const STEPS: Record<string, string[]> = { a: ["s1", "s2"], b: ["main"], c: ["main"], d: ["main"] };

const jobKey = fc.constantFrom("a", "b", "c", "d");
// Weighted towards a run making progress; cancels and re-runs are rarer, as in life.
const op = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("assign" as const), job: jobKey }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("stepStart" as const), job: jobKey, step: fc.nat(1) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("stepEnd" as const),
      job: jobKey,
      step: fc.nat(1),
      status: fc.constantFrom("SUCCESS" as const, "FAILED" as const, "WARNING" as const),
      rows: fc.option(fc.integer({ min: -5, max: 1_000_000 })),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant("finish" as const), job: jobKey, status: fc.constantFrom("SUCCESS" as const, "WARNING" as const, "FAILED" as const, "KILLED" as const) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("cancel" as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("cancelJob" as const), job: jobKey }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("rerun" as const), failedOnly: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("tick" as const), dt: fc.integer({ min: 0, max: 120_000 }) }) },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function play(d: LineageDriver, o: Op): void {
  d.later(1);
  switch (o.op) {
    case "assign":
      d.assign(o.job);
      return;
    case "stepStart": {
      const id = STEPS[o.job]![o.step % STEPS[o.job]!.length]!;
      const s = d.latest(o.job).steps.find((x) => x.id === id)!;
      d.step(o.job, id, "RUNNING", s.attempts.length + 1);
      return;
    }
    case "stepEnd": {
      const id = STEPS[o.job]![o.step % STEPS[o.job]!.length]!;
      const s = d.latest(o.job).steps.find((x) => x.id === id)!;
      const metrics = o.rows === null ? [] : [{ name: "rowCount", kind: "counter" as const, value: o.rows }];
      d.step(o.job, id, o.status, Math.max(1, s.attempts.length), { exitCode: o.status === "FAILED" ? 1 : 0, metrics });
      return;
    }
    case "finish":
      d.finish(o.job, o.status);
      return;
    case "cancel":
      d.cancel();
      return;
    case "cancelJob":
      // The queue page's bulk cancel, by job attempt id.
      d.apply(engine.cancelJobs(d.state, d.ctx(), [d.latest(o.job).id]));
      return;
    case "rerun":
      d.rerun(o.failedOnly);
      return;
    case "tick":
      d.later(o.dt).tick();
      return;
  }
}

/** Brings the run to an end the way a person would: cancel, then let the kill grace run out. */
function finishRun(d: LineageDriver): void {
  if (!isTerminal(d.attempt().status)) {
    d.later().cancel();
    d.later(31_000).tick();
  }
  expect(isTerminal(d.attempt().status)).toBe(true);
}

describe("the run cycle under any sequence of commands", () => {
  it("holds for every run attempt and job attempt, and every event is valid", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const d = new LineageDriver(definition);
        for (const o of ops) play(d, o);
        finishRun(d);
        expectSound(d.events);
        expect(d.dropped).toEqual([]);
        // Every attempt there is has its cycle: nothing is left without events.
        const ids = d.state.attempts.flatMap((a) => [a.id, ...a.jobs.flatMap((j) => j.attempts.map((ja) => ja.id))]);
        expect(new Set(d.events.map((e) => e.run.runId))).toEqual(new Set(ids));
      }),
      { numRuns: 150 },
    );
  });
});
