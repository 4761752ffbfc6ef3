/**
 * The job-condition rules of docs/state-machine.md ("Conditions"), written a second time and
 * independently of domain/run-engine/job-conditions.ts, for CheckedRun to hold the engine to.
 */
import { evaluateCondition, parseCondition } from "../../domain/expressions.ts";
import type { PipelineJob } from "../../domain/pipeline/types.ts";
import type { JobState, RunAttemptState, RunState } from "../../domain/run-engine/index.ts";
import { isTerminal, type State } from "../../domain/states.ts";

const SUCCEEDED: State[] = ["SUCCESS", "WARNING"];

const status = (j: JobState): State => j.reused?.status ?? j.attempts[j.attempts.length - 1]?.status ?? "CREATED";
const reason = (j: JobState): string | null => (j.reused ? (j.reused.reason ?? null) : (j.attempts[j.attempts.length - 1]?.reason ?? null));
export const skipped = (j: JobState): boolean => status(j) === "KILLED" && reason(j) === "skipped";

function parsed(def: PipelineJob) {
  if (!def.if) return null;
  const p = parseCondition(def.if);
  if (!p.ok) throw new Error(`bad condition in a test pipeline: ${def.if}`);
  return p.condition;
}

/** Whether the job waits for its needs to succeed (no status function) or only to end. */
export const waitsForSuccess = (def: PipelineJob): boolean => !(parsed(def)?.usesStatus ?? false);

/** The instances of `def`'s matrix other than `job` that are queued or running. */
export function liveSiblings(state: RunState, attempt: RunAttemptState, def: PipelineJob, job: JobState): number {
  if (!def.matrix) return 0;
  const of = (key: string) => state.run.definition.jobs.find((j) => j.key === key)?.matrix?.job;
  return attempt.jobs.filter((j) => {
    const latest = j.attempts[j.attempts.length - 1];
    return j !== job && of(j.key) === def.matrix!.job && latest?.queuedAt != null && !isTerminal(latest.status);
  }).length;
}

/** The needs a job that has not started still waits on, or `max-parallel` (its matrix is full). */
export function expectedWaiting(state: RunState, attempt: RunAttemptState, def: PipelineJob, job: JobState): string[] {
  const byKey = new Map(attempt.jobs.map((j) => [j.key, j]));
  const needs = job.needs.filter((n) => (waitsForSuccess(def) ? !SUCCEEDED.includes(status(byKey.get(n)!)) : !isTerminal(status(byKey.get(n)!))));
  if (needs.length > 0) return needs;
  const full = def.matrix?.maxParallel != null && liveSiblings(state, attempt, def, job) >= def.matrix.maxParallel;
  if (full) return ["max-parallel"];
  // Concurrency groups: the run attempt's first, then the job's own (asked for by now).
  const runClaim = attempt.concurrency;
  if (runClaim && runClaim.status !== "held") return [`concurrency: ${runClaim.group}`];
  if (def.concurrency && job.concurrency?.status !== "held") return [`concurrency: ${job.concurrency?.group ?? def.concurrency.group}`];
  return def.approval ? ["approval"] : [];
}

/** For a job that waits for success: a need that ended otherwise, which decides the job at once. */
export function endedNeeds(attempt: RunAttemptState, job: JobState): JobState[] {
  const byKey = new Map(attempt.jobs.map((j) => [j.key, j]));
  return job.needs.map((n) => byKey.get(n)!).filter((n) => isTerminal(status(n)) && !SUCCEEDED.includes(status(n)));
}

function ancestors(attempt: RunAttemptState, job: JobState): JobState[] {
  const byKey = new Map(attempt.jobs.map((j) => [j.key, j]));
  const found = new Map<string, JobState>();
  const visit = (key: string) => {
    for (const n of byKey.get(key)!.needs) {
      if (found.has(n)) continue;
      found.set(n, byKey.get(n)!);
      visit(n);
    }
  };
  visit(job.key);
  return [...found.values()];
}

function resultWord(j: JobState): string {
  const s = status(j);
  if (SUCCEEDED.includes(s)) return "success";
  if (s === "FAILED") return "failure";
  return ["skipped", "needs_failed"].includes(reason(j) ?? "") ? "skipped" : "cancelled";
}

/** The condition's value once all needs have ended (or, without a status function, succeeded). */
export function holds(state: RunState, attempt: RunAttemptState, def: PipelineJob, job: JobState): boolean {
  const byKey = new Map(attempt.jobs.map((j) => [j.key, j]));
  // needs.<job>.result by the key as written: a matrix job's instances give the worst result.
  const written = (key: string) => state.run.definition.jobs.find((j) => j.key === key)?.matrix?.job ?? key;
  const resultOf = (name: string): string => {
    const words = job.needs.filter((n) => written(n) === name).map((n) => resultWord(byKey.get(n)!));
    const worst = ["failure", "cancelled", "success"].find((w) => words.includes(w));
    return worst === "success" || worst === undefined ? (words.every((w) => w === "skipped") ? "skipped" : "success") : worst;
  };
  const needs = job.needs.map((n) => byKey.get(n)!);
  const success = needs.every((n) => SUCCEEDED.includes(status(n)));
  const condition = parsed(def);
  if (!condition) return success;
  const up = ancestors(attempt, job);
  return evaluateCondition(condition, {
    status: {
      success,
      failure: up.some((j) => status(j) === "FAILED"),
      cancelled: up.some((j) => status(j) === "KILLED" && reason(j) === "cancelled"),
      always: true,
    },
    lookup: ([root, a, b]) => {
      if (root === "run" && a === "branch") return state.run.branch ?? "";
      if (root === "needs" && b === "result") return resultOf(a!);
      if (root === "matrix") return def.matrix?.values[a!];
      return undefined;
    },
  });
}
