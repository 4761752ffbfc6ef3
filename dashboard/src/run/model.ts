/** What the run page shows, derived from a RunView and the URL's choices. */
import type { JobAttemptView, JobView, RunAttemptView, RunView } from "../api/types.ts";
import type { LogTarget } from "../live/types.ts";
import { AWAITING_APPROVAL } from "../../../domain/run-engine/model.ts";

/** A job as drawn: a job whose result a failed-only re-run kept shows its earlier attempts. */
export interface ShownJob extends JobView {
  /** The run attempt its attempts (and log) belong to. */
  fromAttempt: number;
}

export function shownJobs(run: RunView, attempt: RunAttemptView): ShownJob[] {
  return attempt.jobs.map((job) => {
    if (!job.reused || job.attempts.length > 0) return { ...job, fromAttempt: attempt.number };
    const earlier = run.attempts.find((a) => a.number === job.reused!.attempt)?.jobs.find((j) => j.key === job.key);
    return { ...job, attempts: earlier?.attempts ?? [], fromAttempt: job.reused.attempt };
  });
}

/**
 * Whether `job` is an approval job waiting for a person's decision (domain/run-engine/approvals.ts).
 * Its `waitingOn` still says so once decided: its status tells.
 */
export function awaitsApproval(job: JobView): boolean {
  return job.approval !== null && job.status === "CREATED" && job.waitingOn.join() === AWAITING_APPROVAL;
}

/**
 * The job to show when the URL names none: one waiting for approval (its form is what the
 * viewer can act on), else a running one, else a failed one, else the first.
 */
export function defaultJob(jobs: ShownJob[]): ShownJob | undefined {
  return (
    jobs.find(awaitsApproval) ??
    jobs.find((j) => j.status === "RUNNING" || j.status === "KILLING") ??
    jobs.find((j) => j.status === "FAILED") ??
    jobs.find((j) => j.attempts.length > 0) ??
    jobs[0]
  );
}

export function jobAttemptOf(job: ShownJob, number: number | null): JobAttemptView | undefined {
  if (number !== null) return job.attempts.find((a) => a.number === number);
  return job.attempts[job.attempts.length - 1];
}

export function logTarget(job: ShownJob, attempt: JobAttemptView): LogTarget {
  return { jobKey: job.key, jobAttemptId: attempt.id, runAttempt: job.fromAttempt, jobAttempt: attempt.number };
}
