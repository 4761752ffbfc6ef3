/**
 * Commit statuses (docs/triggers.md, "Commit statuses"): what a run attempt reports to GitHub
 * for its commit — `pending` when it starts, then `success`, `failure` or `error` when it ends —
 * derived from the run engine's transitions, with no I/O (the RunObject's outbox sends them).
 */
import type { RunState, TransitionEffect } from "./run-engine/index.ts";

export type CommitState = "pending" | "success" | "failure" | "error";

/** The POST body GitHub's "create a commit status" takes. */
export interface CommitStatusBody {
  state: CommitState;
  target_url?: string;
  description: string;
  context: string;
}

export interface CommitStatus {
  sha: string;
  body: CommitStatusBody;
}

/** `owner/name` of a GitHub repository. */
export const GITHUB_REPOSITORY = /^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/;

/** GitHub takes statuses for full commit SHAs only; a run on a branch name or tag reports none. */
export const COMMIT_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;

/** The project secret that authenticates statuses (never sent to a job). */
export const STATUS_TOKEN_SECRET = "GITHUB_TOKEN";

export function statusContext(pipeline: string): string {
  return `yardmaster/${pipeline}`;
}

/** The run's dashboard page under `origin` (YM_PUBLIC_URL, or the triggering request's origin). */
export function runPageUrl(origin: string, runId: string): string {
  return `${origin.replace(/\/+$/, "")}/runs/${runId}`;
}

const ENDED: Partial<Record<string, { state: CommitState; said: string }>> = {
  SUCCESS: { state: "success", said: "succeeded" },
  WARNING: { state: "success", said: "succeeded with warnings" },
  FAILED: { state: "failure", said: "failed" },
  KILLED: { state: "error", said: "was cancelled" },
};

/**
 * The statuses one command's transitions call for, in order: one per run attempt that started
 * (RUNNING) or ended. Nothing when the run has no full commit SHA.
 */
export function commitStatusesFor(state: RunState, transitions: readonly TransitionEffect[], targetUrl: string | null): CommitStatus[] {
  const { run } = state;
  if (!run.commit || !COMMIT_SHA.test(run.commit)) return [];
  const out: CommitStatus[] = [];
  for (const t of transitions) {
    if (t.entity !== "run_attempt") continue;
    const what = `Run #${run.number}${t.runAttempt > 1 ? ` (attempt ${t.runAttempt})` : ""}`;
    const ended = ENDED[t.to];
    const status: { state: CommitState; description: string } | null =
      t.to === "RUNNING" ? { state: "pending", description: `${what} is running` } : ended ? { state: ended.state, description: `${what} ${ended.said}` } : null;
    if (!status) continue;
    out.push({
      sha: run.commit.toLowerCase(),
      body: { ...status, ...(targetUrl ? { target_url: targetUrl } : {}), context: statusContext(run.pipeline) },
    });
  }
  return out;
}
