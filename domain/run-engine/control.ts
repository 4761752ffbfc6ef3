/** What people and the API do to a run: cancel it (or some of its jobs) and re-run it. */
import { isTerminal } from "../states.ts";
import { refuse } from "./effects.ts";
import { openAttempt } from "./create.ts";
import { downstreamOf } from "../pipeline/graph.ts";
import { finishAttemptIfDone, jobNodes, killStepNotRun, enqueueReadyJobs, pipelineJob } from "./jobs-graph.ts";
import { isSkipped, type JobState, jobQueue, jobStatus, latestJobAttempt } from "./model.ts";
import type { Txn } from "./txn.ts";

/** Queued job attempts to take out of their queues, by queue. */
type Dequeued = Map<string, string[]>;

function pushDequeues(txn: Txn, dequeued: Dequeued): void {
  for (const [queue, jobAttemptIds] of dequeued) txn.effects.push({ type: "dequeue", queue, jobAttemptIds });
}

/**
 * Stops one job: a queued one ends KILLED at once, a running one goes KILLING until its agent
 * confirms. `reason`: `cancelled`, or `superseded` by a newer run of its concurrency group.
 */
function cancelJob(txn: Txn, shared: JobState, dequeued: Dequeued, reason = "cancelled"): void {
  const sharedLatest = latestJobAttempt(shared);
  if (!sharedLatest || isTerminal(sharedLatest.status) || sharedLatest.status === "KILLING") return;
  const job = txn.own(shared);
  const latest = latestJobAttempt(job)!;
  if (latest.status === "CREATED") {
    if (latest.queuedAt !== null) dequeued.set(jobQueue(job), [...(dequeued.get(jobQueue(job)) ?? []), latest.id]);
    txn.moveJobAttempt(job, latest, "KILLED", reason);
    latest.endedAt = txn.now;
    for (const step of latest.steps) killStepNotRun(txn, job, latest, step, reason);
    return;
  }
  txn.moveJobAttempt(job, latest, "KILLING", reason);
  latest.killingSince = txn.now;
}

/** Cancels the current attempt: every job not yet over is stopped. Idempotent while cancelling. */
export function cancelRun(txn: Txn, reason = "cancelled"): void {
  const attempt = txn.attempt;
  if (isTerminal(attempt.status)) {
    refuse(409, "run_finished", `run #${txn.state.run.number} already ended ${attempt.status}; there is nothing to cancel`);
  }
  if (attempt.status === "KILLING") return;
  const dequeued: Dequeued = new Map();
  for (const job of attempt.jobs) cancelJob(txn, job, dequeued, reason);
  pushDequeues(txn, dequeued);
  txn.moveAttempt("KILLING", reason);
  if (txn.state.run.status !== "KILLING") txn.moveRun("KILLING", reason);
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
  }
  pushDequeues(txn, dequeued);
  enqueueReadyJobs(txn);
  finishAttemptIfDone(txn);
  return cancelled;
}

/** Stops one job of the current attempt with `reason`; the jobs that need it are decided, the attempt may end. */
export function stopJob(txn: Txn, shared: JobState, reason: string): void {
  const dequeued: Dequeued = new Map();
  cancelJob(txn, shared, dequeued, reason);
  pushDequeues(txn, dequeued);
  enqueueReadyJobs(txn);
  finishAttemptIfDone(txn);
}

/** What a re-run runs again: all jobs (the default), the failed ones, or the jobs named. */
export interface RerunOptions {
  failedOnly?: boolean;
  /** Job keys (a matrix job's key as written names all its instances). */
  jobs?: string[];
}

/** The keys of the previous attempt's jobs that `names` choose; refuses a name that is none. */
function chosenJobs(txn: Txn, names: string[]): Set<string> {
  const jobs = txn.attempt.jobs;
  if (names.length === 0) refuse(400, "no_jobs_chosen", "jobs: name at least one job to re-run, or leave jobs out to re-run them all");
  const chosen = new Set<string>();
  for (const name of names) {
    const matching = jobs.filter((j) => j.key === name || pipelineJob(txn.state.run.definition, j.key)?.matrix?.job === name);
    if (matching.length === 0) {
      refuse(400, "unknown_job", `run #${txn.state.run.number} has no job "${name}"; its jobs are ${jobs.map((j) => j.key).join(", ")}`);
    }
    for (const job of matching) chosen.add(job.key);
  }
  return chosen;
}

/**
 * Adds attempt N+1. All jobs run again; or with `failedOnly` the failed and cancelled jobs, or
 * with `jobs` the jobs named, and every job downstream of them; the others keep their result
 * and outputs. Attempt N is left as is. Only chosen jobs may re-run a SUCCESS run.
 */
export function rerun(txn: Txn, options: RerunOptions): void {
  const run = txn.state.run;
  const failedOnly = options.failedOnly ?? false;
  const rerunnable = options.jobs ? ["SUCCESS", "FAILED", "KILLED", "WARNING"] : ["FAILED", "KILLED", "WARNING"];
  if (!rerunnable.includes(run.status)) {
    const what = options.jobs ? "a finished run" : "a failed, cancelled or warning run (name jobs to re-run a successful one)";
    refuse(409, "run_not_rerunnable", `run #${run.number} is ${run.status}; only ${what} can be re-run`);
  }
  if (options.jobs && failedOnly) refuse(400, "rerun_conflict", "give failedOnly or jobs, not both");
  const previous = txn.attempt;
  let again: Set<string> | null = null;
  if (options.jobs) again = chosenJobs(txn, options.jobs);
  if (failedOnly) {
    // A skipped job is not a failure: it runs again only when a job it needs does.
    again = new Set(previous.jobs.filter((j) => ["FAILED", "KILLED"].includes(jobStatus(j)) && !isSkipped(j)).map((j) => j.key));
    if (again.size === 0) refuse(409, "nothing_to_rerun", `run #${run.number} has no failed or cancelled job to re-run`);
  }
  if (again) {
    again = new Set(downstreamOf(jobNodes(previous.jobs), again));
  }
  txn.moveRun("RESTARTED", options.jobs ? "rerun_jobs" : failedOnly ? "rerun_failed" : "rerun"); // recorded on attempt N
  run.endedAt = null;
  const rerunSet = again;
  const attempt = openAttempt(txn, failedOnly, (key) => rerunSet === null || rerunSet.has(key));
  if (options.jobs) attempt.rerunJobs = [...options.jobs];
  txn.moveRun("CREATED"); // recorded on attempt N+1, which now exists
  enqueueReadyJobs(txn);
  finishAttemptIfDone(txn); // the jobs that run again may all be skipped by their conditions
}
