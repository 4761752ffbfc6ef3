/** `retries:` at upload: a number is the limit alone; the long form gives a policy too. */
import type { PipelineFile } from "./schema.ts";
import { RETRY_DEFAULTS, type RetryPolicy } from "./types.ts";

type RawRetries = PipelineFile["jobs"][string]["retries"];

/**
 * The policy of the long form, and its problems as [path under `retries`, message]. No policy
 * for `retries: 2` (or `{limit: 2}`), so such a job keeps the shape older pipelines have.
 */
export function retryPolicyOf(retries: RawRetries): { policy?: RetryPolicy; problems: [string[], string][] } {
  if (!retries || (retries.backoff == null && retries.on == null && retries["exit-codes"] == null)) return { problems: [] };
  const on = retries.on ?? RETRY_DEFAULTS.on;
  const exitCodes = retries["exit-codes"] ?? null;
  const problems: [string[], string][] = [];
  if (exitCodes && !on.includes("failure")) problems.push([["exit-codes"], "exit-codes choose which failures are retried; add failure to on:"]);
  return { policy: { backoffMs: retries.backoff ?? RETRY_DEFAULTS.backoffMs, on: [...new Set(on)], exitCodes }, problems };
}
