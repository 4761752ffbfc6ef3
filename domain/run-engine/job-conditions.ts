/**
 * A job's `if:` and its needs (docs/state-machine.md, "Conditions"): when a job that has not
 * started can be decided, and whether it then runs or ends KILLED (`skipped`, or `needs_failed`
 * — "Not run" — when a job it needs failed and its condition asks for success).
 *
 * - Without a status function (the default `success()`, or e.g. `run.branch == 'main'`) a job
 *   waits until every need succeeded; a need that ends otherwise decides it at once: not run
 *   (a need failed or was cancelled) or skipped (its needs were only skipped).
 * - With a status function (`failure()`, `always()`, `cancelled()`, `success()` written out)
 *   it waits until every need has ended, whatever the outcome, then its condition decides.
 */
import { evaluateCondition, type ExprValue, storedCondition } from "../expressions.ts";
import { isTerminal, type State } from "../states.ts";
import type { PipelineJob } from "../pipeline/types.ts";
import { pipelineJob } from "./jobs-graph.ts"; // a cycle of functions only, called after both load
import { isSkipped, type JobState, jobReason, jobStatus, type RunAttemptState, type RunState } from "./model.ts";

const SUCCEEDED: readonly State[] = ["SUCCESS", "WARNING"];

export type JobDecision =
  /** The needs it still waits on (never empty). */
  | { kind: "wait"; waitingOn: string[] }
  | { kind: "run" }
  | { kind: "end"; reason: "skipped" | "needs_failed" };

/** `needs.<job>.result`, in GitHub Actions' words. */
export function resultWord(job: JobState): "success" | "failure" | "cancelled" | "skipped" | "pending" {
  const status = jobStatus(job);
  if (!isTerminal(status)) return "pending";
  if (SUCCEEDED.includes(status)) return "success";
  if (status === "FAILED") return "failure";
  const reason = jobReason(job);
  return reason === "skipped" || reason === "needs_failed" ? "skipped" : "cancelled";
}

/** A matrix job's instances together, for `needs.<job>.result`: the worst of them. */
function aggregateResult(words: string[]): string {
  for (const word of ["pending", "failure", "cancelled"]) if (words.includes(word)) return word;
  return words.every((w) => w === "skipped") ? "skipped" : "success";
}

/**
 * What `needs.<job>` means in a condition of `job`, by the job's key as written: a matrix
 * job's instances count as one job (its result the worst of theirs, no outputs — they are
 * per instance).
 */
export function needsContext(state: RunState, job: JobState, byKey: ReadonlyMap<string, JobState>): Record<string, { result: string; outputs: Record<string, string> }> {
  const groups = new Map<string, JobState[]>();
  for (const key of job.needs) {
    const need = byKey.get(key);
    if (!need) continue;
    const written = pipelineJob(state.run.definition, key)?.matrix?.job ?? key;
    groups.set(written, [...(groups.get(written) ?? []), need]);
  }
  return Object.fromEntries(
    [...groups].map(([written, members]) => {
      const single = members.length === 1 && members[0]!.key === written;
      return [written, single ? { result: resultWord(members[0]!), outputs: members[0]!.outputs } : { result: aggregateResult(members.map(resultWord)), outputs: {} }];
    }),
  );
}

/** `run.<field>` of templates and conditions alike. */
export function runContext(state: RunState): Record<string, string> {
  const { run } = state;
  return {
    id: run.id,
    number: String(run.number),
    branch: run.branch ?? "",
    commit: run.commit ?? "",
    trigger: run.trigger,
    attempt: String(state.attempts.length),
    pipeline: run.pipeline,
    project: run.project,
  };
}

/** The jobs `key` needs, directly or through other jobs. */
function upstream(attempt: RunAttemptState, byKey: Map<string, JobState>, key: string): JobState[] {
  const seen = new Set<string>();
  const stack = [...(byKey.get(key)?.needs ?? [])];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next) || !byKey.has(next)) continue;
    seen.add(next);
    stack.push(...byKey.get(next)!.needs);
  }
  return attempt.jobs.filter((j) => seen.has(j.key));
}

/** Whether the condition of `def` holds now that all of `job`'s needs have ended. */
export function conditionHolds(state: RunState, attempt: RunAttemptState, def: PipelineJob, job: JobState, byKey: Map<string, JobState>): boolean {
  const needs = job.needs.map((n) => byKey.get(n)!);
  const ancestors = upstream(attempt, byKey, job.key);
  const success = needs.every((n) => SUCCEEDED.includes(jobStatus(n)));
  if (!def.if) return success;
  const condition = storedCondition(def.if);
  if (!condition) return false;
  const run = runContext(state);
  const needsByName = needsContext(state, job, byKey);
  const lookup = (path: string[]): ExprValue | undefined => {
    const [root, a, b, c] = path;
    switch (root) {
      case "run":
        return run[a!];
      case "params":
        return state.run.params[a!] ?? state.run.definition.params[a!]?.default ?? "";
      case "needs": {
        const need = needsByName[a!];
        if (!need) return undefined;
        return b === "result" ? need.result : (need.outputs[c!] ?? "");
      }
      case "matrix":
        return def.matrix?.values[a!];
      default:
        return undefined;
    }
  };
  return evaluateCondition(condition, {
    status: {
      success,
      failure: ancestors.some((j) => jobStatus(j) === "FAILED"),
      cancelled: ancestors.some((j) => jobStatus(j) === "KILLED" && jobReason(j) === "cancelled"),
      always: true,
    },
    lookup,
  });
}

/** What to do with a job whose latest attempt is CREATED and not yet queued. */
export function decideJob(state: RunState, attempt: RunAttemptState, def: PipelineJob, job: JobState, byKey: Map<string, JobState>): JobDecision {
  // A retry of an attempt that ran: its condition held already and its needs have not changed.
  if (job.attempts.length > 1) return { kind: "run" };
  const needs = job.needs.map((n) => byKey.get(n)!);
  const usesStatus = def.if ? (storedCondition(def.if)?.usesStatus ?? false) : false;
  if (!usesStatus) {
    const over = needs.filter((n) => isTerminal(jobStatus(n)) && !SUCCEEDED.includes(jobStatus(n)));
    if (over.length > 0) return { kind: "end", reason: over.every(isSkipped) ? "skipped" : "needs_failed" };
    const waitingOn = needs.filter((n) => !SUCCEEDED.includes(jobStatus(n))).map((n) => n.key);
    if (waitingOn.length > 0) return { kind: "wait", waitingOn };
  } else {
    const waitingOn = needs.filter((n) => !isTerminal(jobStatus(n))).map((n) => n.key);
    if (waitingOn.length > 0) return { kind: "wait", waitingOn };
  }
  return conditionHolds(state, attempt, def, job, byKey) ? { kind: "run" } : { kind: "end", reason: "skipped" };
}
