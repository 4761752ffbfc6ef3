/**
 * What a job token proves: the job attempt it was issued for, while that attempt is live (and,
 * for late log chunks, for a grace period after it ended — never after it was lost or timed
 * out). Pure over the run's state: the RunObject hashes the token and asks.
 */
import { isTerminal } from "../../domain/states.ts";
import { jobQueue, locateJobAttempt, type RunState } from "../../domain/run-engine/index.ts";
import { fail, ok, type Result } from "../../platform/result.ts";

/** What a job token proves, for the worker's artifact and cache routes. */
export interface JobIdentity {
  runId: string;
  runNumber: number;
  projectId: string;
  project: string;
  pipeline: string;
  runAttempt: number;
  jobKey: string;
  jobAttemptId: string;
  /** The job's queue: caches are kept per project and queue (a queue is a trust boundary). */
  queue: string;
}

export interface JobAuthOptions {
  /** Let an ended (not lost, not timed-out) job's late log chunks in, within the grace. */
  allowEnded: boolean;
  now: number;
  lateLogGraceMs: number;
}

export function authorizeJob(state: RunState | null, jobAttemptId: string, tokenHash: string, options: JobAuthOptions): Result<JobIdentity> {
  // A token naming a run that does not exist is simply not a valid token.
  if (!state) return fail(401, "invalid_job_token", "the job token does not belong to any run");
  const found = locateJobAttempt(state, jobAttemptId);
  if (!found) return fail(401, "invalid_job_token", "the job token does not belong to this run");
  const { attempt, job, jobAttempt } = found;
  if (jobAttempt.tokenHash === null || jobAttempt.tokenHash !== tokenHash) {
    return fail(401, "invalid_job_token", "the job token does not belong to this job");
  }
  const lateOk =
    options.allowEnded &&
    jobAttempt.reason !== "agent_lost" &&
    jobAttempt.reason !== "timeout" &&
    jobAttempt.endedAt !== null &&
    options.now < jobAttempt.endedAt + options.lateLogGraceMs;
  if (isTerminal(jobAttempt.status) && !lateOk) {
    const late = options.allowEnded ? ` (late log chunks are taken for ${options.lateLogGraceMs / 1000} s after the end)` : "";
    return fail(410, "job_ended", `job attempt ${jobAttemptId} has ended (${jobAttempt.status}); its token is no longer valid${late}`);
  }
  const { run } = state;
  return ok({
    runId: run.id,
    runNumber: run.number,
    projectId: run.projectId,
    project: run.project,
    pipeline: run.pipeline,
    runAttempt: attempt.number,
    jobKey: job.key,
    jobAttemptId,
    queue: jobQueue(job),
  });
}
