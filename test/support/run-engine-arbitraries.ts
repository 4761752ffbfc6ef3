/**
 * The random inputs of the run engine's property test (test/node/domain/run-engine.property.test.ts):
 * small pipelines (job DAGs with retries and retry policies, conditions, matrices, concurrency
 * groups; step graphs with step retries) and the commands agents, people and the clock send.
 */
import fc from "fast-check";
import type { Pipeline } from "../../domain/pipeline/types.ts";
import { expandMatrices, type MatrixSpec } from "../../domain/pipeline/matrix.ts";
import { job, pipeline, step } from "./pipelines.ts";

// ── random pipelines ─────────────────────────────────────────────────────────────────────────

const stepsArb = fc.integer({ min: 1, max: 3 }).chain((n) =>
  fc.tuple(
    ...Array.from({ length: n }, (_, i) =>
      fc.record({ needs: fc.subarray(Array.from({ length: i }, (_, k) => `s${k}`)), retries: fc.integer({ min: 0, max: 1 }) }),
    ),
  ).map((defs) => defs.map((d, i) => step(`s${i}`, d.needs, { retries: d.retries }))),
);

/** Conditions of every kind; `needs.*` ones name the job's first need (none: the default). */
const CONDITIONS = [
  "success()",
  "${{ failure() }}",
  "always()",
  "cancelled()",
  "run.branch == 'main'",
  "run.branch != 'main'",
  "failure() || cancelled()",
  "!failure() && always()",
  "always() && needs.FIRST.result == 'failure'",
  "needs.FIRST.result == 'success'",
  "always() && needs.FIRST.result != 'skipped'",
];
const conditionArb = fc.option(fc.constantFrom(...CONDITIONS), { freq: 2 });

const retryPolicyArb = fc.option(
  fc.record({
    backoffMs: fc.constantFrom(0, 10_000, 120_000),
    on: fc.subarray(["failure", "lost", "timeout"] as const, { minLength: 1 }),
    exitCodes: fc.option(fc.constant<number[]>([75]), { nil: null }),
  }),
  { nil: undefined },
);

/** A value one time in four, else undefined. */
const rarely = <T,>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

export const pipelineArb: fc.Arbitrary<Pipeline> = fc.integer({ min: 1, max: 5 }).chain((n) =>
  fc.tuple(
    ...Array.from({ length: n }, (_, i) =>
      fc.record({
        needs: fc.subarray(Array.from({ length: i }, (_, k) => `j${k}`)),
        retries: fc.integer({ min: 0, max: 2 }),
        retryPolicy: retryPolicyArb,
        condition: conditionArb,
        matrix: rarely(fc.record({ values: fc.integer({ min: 1, max: 3 }), maxParallel: fc.option(fc.integer({ min: 1, max: 2 }), { nil: null }) })),
        approval: rarely(fc.record({ timeoutMs: fc.constantFrom(null, 60_000) })),
        // A concurrency group: the run's (read from the first job's draw) and the job's own.
        runGroup: rarely(fc.constant(true)),
        group: rarely(fc.constant(true)),
        timeoutMs: fc.constantFrom(5_000, 45_000, 300_000),
        steps: stepsArb,
      }),
    ),
  ).map((defs) => {
    // Matrix jobs are expanded as the parser does: one job per value, needs on all instances.
    const specs = new Map<string, MatrixSpec>();
    defs.forEach((d, i) => {
      if (d.matrix && !d.approval) specs.set(`j${i}`, { dimensions: { x: ["a", "b", "c"].slice(0, d.matrix.values) }, include: [], exclude: [], maxParallel: d.matrix.maxParallel });
    });
    const definition = pipeline(expandMatrices(
      defs.map((d, i) => {
        const condition = d.condition && (d.needs[0] ? d.condition.replace("FIRST", d.needs[0]) : d.condition.includes("FIRST") ? null : d.condition);
        return job(`j${i}`, d.needs, {
          retries: d.retries,
          timeoutMs: d.timeoutMs,
          steps: d.steps,
          ...(d.retryPolicy && { retryPolicy: { ...d.retryPolicy, on: [...d.retryPolicy.on] } }),
          ...(condition && { if: condition }),
          ...(d.group && { concurrency: { group: "jobs", cancelInProgress: false } }),
          // An approval job: no agent, no steps, an input that becomes its output.
          ...(d.approval && {
            runsOn: [],
            steps: [],
            approval: { prompt: "ok?", inputs: { why: { type: "string" as const, required: false } }, timeoutMs: d.approval.timeoutMs },
          }),
        });
      }),
      specs,
    ));
    return defs[0]!.runGroup ? { ...definition, concurrency: { group: "run", cancelInProgress: true } } : definition;
  }),
);

// ── random commands ──────────────────────────────────────────────────────────────────────────

export type End = "SUCCESS" | "WARNING" | "FAILED" | "KILLED";
const endArb = fc.constantFrom<End>("SUCCESS", "WARNING", "FAILED", "KILLED");
/** Which step attempt a report names: mostly the right one (next to start, last to end), sometimes any. */
const stepAttemptArb = (usual: "next" | "last") =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(usual) },
    { weight: 1, arbitrary: fc.constant(usual === "next" ? ("last" as const) : ("next" as const)) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 4 }) },
  );
const idx = fc.nat({ max: 9 });

export type Cmd =
  | { t: "assignQueued"; pick: number; agent: number }
  | { t: "assign"; job: number }
  | { t: "stepStart"; job: number; step: number; attempt: "next" | "last" | number }
  | { t: "stepEnd"; job: number; step: number; attempt: "next" | "last" | number; status: End; out: boolean }
  | { t: "finish"; job: number; status: End; exitCode: number | null }
  | { t: "heartbeat"; job: number }
  | { t: "cancel" }
  | { t: "cancelJobs"; jobs: number[]; bogus: boolean }
  | { t: "rerun"; failedOnly: boolean; jobs: number[] | null }
  | { t: "tick"; advance: number }
  | { t: "approve"; job: number; approve: boolean }
  /** The project's group object grants a waiting claim, or a newer run supersedes a claim. */
  | { t: "group"; pick: number; supersede: boolean }
  | { t: "wrong"; kind: "unknownAttempt" | "olderAttempt" | "unknownStep" | "stepZero" | "reassign" | "finishUnclaimed"; job: number };

export const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant("assignQueued" as const), pick: idx, agent: fc.nat({ max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("assign" as const), job: idx }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant("stepStart" as const), job: idx, step: idx, attempt: stepAttemptArb("next") }) },
  {
    weight: 6,
    arbitrary: fc.record({ t: fc.constant("stepEnd" as const), job: idx, step: idx, attempt: stepAttemptArb("last"), status: endArb, out: fc.boolean() }),
  },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("finish" as const), job: idx, status: endArb, exitCode: fc.constantFrom(null, 1, 75) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("heartbeat" as const), job: idx }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("cancel" as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("cancelJobs" as const), jobs: fc.array(idx, { maxLength: 3 }), bogus: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("rerun" as const), failedOnly: fc.boolean(), jobs: fc.option(fc.array(idx, { minLength: 1, maxLength: 2 }), { nil: null }) }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("tick" as const), advance: fc.integer({ min: 0, max: 400_000 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("approve" as const), job: idx, approve: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("group" as const), pick: idx, supersede: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("wrong" as const),
      kind: fc.constantFrom("unknownAttempt", "olderAttempt", "unknownStep", "stepZero", "reassign", "finishUnclaimed"),
      job: idx,
    }),
  },
);
