/** The state of the job attempt a log belongs to, as a run view says. */
import type { RunView, State } from "../api/types.ts";
import type { LogTarget } from "./types.ts";

export function jobAttemptStatus(run: RunView, target: LogTarget): State | undefined {
  const attempt = run.attempts.find((a) => a.number === target.runAttempt);
  for (const job of attempt?.jobs ?? []) for (const a of job.attempts) if (a.id === target.jobAttemptId) return a.status;
  return undefined;
}
