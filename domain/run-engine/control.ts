/** What people and the API do to a run: cancel it (or some of its jobs) and re-run it. */
import { isTerminal } from "../states.ts";
import { refuse } from "./effects.ts";
import { openAttempt } from "./create.ts";
import { downstreamOf } from "../pipeline/graph.ts";
import { finishAttemptIfDone, jobNodes, killDependants, killStepNotRun, enqueueReadyJobs } from "./jobs-graph.ts";
import { type JobState, jobQueue, jobStatus, latestJobAttempt } from "./model.ts";
import type { Txn } from "./txn.ts";

/** Stops one job: a queued one ends KILLED at once, a running one goes KILLING until its agent confirms. */
/** Queued job attempts to take out of their queues, by queue. */
type Dequeued = Map<string, string[]>;

function pushDequeues(txn: Txn, dequeued: Dequeued): void {
  for (const [queue, jobAttemptIds] of dequeued) txn.effects.push({ type: "dequeue", queue, jobAttemptIds });
}

function cancelJob(txn: Txn, shared: JobState, dequeued: Dequeued): void {
  const sharedLatest = latestJobAttempt(shared);
  if (!sharedLatest || isTerminal(sharedLatest.status) || sharedLatest.status === "KILLING") return;
  const job = txn.own(shared);
  const latest = latestJobAttempt(job)!;
  if (latest.status === "CREATED") {
    if (latest.queuedAt !== null) dequeued.set(jobQueue(job), [...(dequeued.get(jobQueue(job)) ?? []), latest.id]);
    txn.moveJobAttempt(job, latest, "KILLED", "cancelled");
    latest.endedAt = txn.now;
    for (const step of latest.steps) killStepNotRun(txn, job, latest, step, "cancelled");
    return;
  }
  txn.moveJobAttempt(job, latest, "KILLING", "cancelled");
  latest.killingSince = txn.now;
}

/** Cancels the current attempt: every job not yet over is stopped. Idempotent while cancelling. */
export function cancelRun(txn: Txn): void {
  const attempt = txn.attempt;
  if (isTerminal(attempt.status)) {
    refuse(409, "run_finished", `run #${txn.state.run.number} already ended ${attempt.status}; there is nothing to cancel`);
  }
  if (attempt.status === "KILLING") return;
  const dequeued: Dequeued = new Map();
  for (const job of attempt.jobs) cancelJob(txn, job, dequeued);
  pushDequeues(txn, dequeued);
  txn.moveAttempt("KILLING", "cancelled");
  if (txn.state.run.status !== "KILLING") txn.moveRun("KILLING", "cancelled");
  finishAttemptIfDone(txn);
}

/**
 * Cancels some jobs of the current attempt (the queue page's bulk cancel). The jobs that need
 * them are not run; the others carry on.
 */
export function cancelJobs(txn: Txn, jobAttemptIds: string[]): string[] {
  const cancelled: string[] = [];
  const dequeued: Dequeued = new Map();
  for (const id of jobAttemptIds) {
    const found = txn.findJobAttempt(id);
    if (!found || isTerminal(found.jobAttempt.status) || found.jobAttempt.status === "KILLING") continue;
    if (found.job.attempts[found.job.attempts.length - 1] !== found.jobAttempt) continue;
    cancelJob(txn, found.job, dequeued);
    cancelled.push(id);
    if (found.jobAttempt.status === "KILLED") killDependants(txn, found.job.key);
  }
  pushDequeues(txn, dequeued);
  enqueueReadyJobs(txn);
  finishAttemptIfDone(txn);
  return cancelled;
}

/**
 * Adds attempt N+1. All jobs run again, or with `failedOnly` the failed and cancelled jobs and
 * every job downstream of them; the others keep their result and outputs. Attempt N is left as is.
 */
export function rerun(txn: Txn, failedOnly: boolean): void {
  const run = txn.state.run;
  if (!["FAILED", "KILLED", "WARNING"].includes(run.status)) {
    refuse(409, "run_not_rerunnable", `run #${run.number} is ${run.status}; only a failed, cancelled or warning run can be re-run`);
  }
  const previous = txn.attempt;
  let again: Set<string> | null = null;
  if (failedOnly) {
    const failed = previous.jobs.filter((j) => ["FAILED", "KILLED"].includes(jobStatus(j))).map((j) => j.key);
    if (failed.length === 0) refuse(409, "nothing_to_rerun", `run #${run.number} has no failed or cancelled job to re-run`);
    again = new Set(downstreamOf(jobNodes(previous.jobs), failed));
  }
  txn.moveRun("RESTARTED", failedOnly ? "rerun_failed" : "rerun"); // recorded on attempt N
  run.endedAt = null;
  const rerunSet = again;
  openAttempt(txn, failedOnly, (key) => rerunSet === null || rerunSet.has(key));
  txn.moveRun("CREATED"); // recorded on attempt N+1, which now exists
  enqueueReadyJobs(txn);
}
