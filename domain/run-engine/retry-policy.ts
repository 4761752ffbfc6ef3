/**
 * The one retry rule for job attempts (docs/state-machine.md, "Retry policy"): whether a failed
 * job attempt gets another one, after how long, and the sentence that says why (not).
 */
import { RETRY_DEFAULTS, type PipelineJob, type RetryCause } from "../pipeline/types.ts";
import type { JobState } from "./model.ts";

export type RetryDecision = { retry: true; backoffMs: number; why: string } | { retry: false; why: string };

/** What ended a failed attempt, in `retries.on`'s words. */
export function retryCause(reason: string | null): RetryCause {
  if (reason === "agent_lost") return "lost";
  if (reason === "timeout") return "timeout";
  return "failure";
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * Null when there is nothing to decide (the attempt did not fail, or the job allows no retries);
 * `job.attempts` includes the attempt that just failed.
 */
export function retryDecision(
  def: PipelineJob,
  job: JobState,
  failure: { reason: string | null; exitCode: number | null },
  runCancelling: boolean,
): RetryDecision | null {
  if (def.retries <= 0 || def.approval) return null; // a person's "no" is not retried
  const policy = def.retryPolicy ?? RETRY_DEFAULTS;
  const cause = retryCause(failure.reason);
  if (runCancelling) return { retry: false, why: "not retried: the run is being cancelled" };
  if (!policy.on.includes(cause)) return { retry: false, why: `not retried: retries.on does not include ${cause}` };
  if (cause === "failure" && policy.exitCodes) {
    const listed = policy.exitCodes.join(", ");
    if (failure.exitCode === null) return { retry: false, why: `not retried: no exit code was reported, and retries.exit-codes lists ${listed}` };
    if (!policy.exitCodes.includes(failure.exitCode)) {
      return { retry: false, why: `not retried: exit code ${failure.exitCode} is not in retries.exit-codes (${listed})` };
    }
  }
  const used = job.attempts.length - 1;
  if (used >= def.retries) return { retry: false, why: `not retried: all ${def.retries} retries used` };
  const wait = policy.backoffMs > 0 ? ` after a ${seconds(policy.backoffMs)} backoff` : "";
  return { retry: true, backoffMs: policy.backoffMs, why: `retried (${cause}) as attempt ${job.attempts.length + 1}${wait}` };
}
