/**
 * The clock's part: lost agents, jobs past their timeout, cancellations that the agent never
 * confirmed, retries whose backoff is over, and approvals past their timeout. The RunObject calls `tick` from its alarm and
 * sets the next alarm to `nextDeadline`.
 */
import { expireApproval } from "./approvals.ts";
import { endJobAttempt } from "./job-lifecycle.ts";
import { enqueueReadyJobs, pipelineJob } from "./jobs-graph.ts";
import type { EngineSettings, JobAttemptState, RunState } from "./model.ts";
import type { Txn } from "./txn.ts";

type Due = { at: number; outcome: "FAILED" | "KILLED" | "QUEUE" | "APPROVAL_TIMEOUT"; reason: string; message: string };

/**
 * The deadlines of job `key`'s attempt, soonest first; empty when it is not running. The job's
 * definition is looked up only for the states that need it: every command asks this of every
 * job (nextDeadline), and most are queued or over.
 */
function deadlines(state: RunState, key: string, jobAttempt: JobAttemptState, settings: EngineSettings): Due[] {
  if (jobAttempt.status === "CREATED" && jobAttempt.awaitingSince != null) {
    const approvalTimeoutMs = approvalTimeoutOf(state, key);
    if (approvalTimeoutMs !== null) {
      return [{ at: jobAttempt.awaitingSince + approvalTimeoutMs, outcome: "APPROVAL_TIMEOUT", reason: "timeout", message: "" }];
    }
  }
  if (jobAttempt.status === "RUNNING") {
    const timeoutMs = timeoutOf(state, key);
    const lastSeen = jobAttempt.lastHeartbeatAt ?? jobAttempt.startedAt ?? 0;
    const due: Due[] = [
      {
        at: lastSeen + settings.lostAfterMs,
        outcome: "FAILED",
        reason: "agent_lost",
        message: `no heartbeat from agent ${jobAttempt.agentName ?? jobAttempt.agentId} for ${Math.round(settings.lostAfterMs / 1000)} s`,
      },
      {
        at: (jobAttempt.startedAt ?? 0) + timeoutMs + settings.timeoutGraceMs,
        outcome: "FAILED",
        reason: "timeout",
        message: "the job ran past its timeout and its agent did not stop it",
      },
    ];
    return due.sort((a, b) => a.at - b.at);
  }
  if (jobAttempt.status === "CREATED" && jobAttempt.queuedAt === null && (jobAttempt.notBefore ?? null) !== null) {
    // A retry waiting out its backoff: the tick queues it (enqueueReadyJobs); nothing ends.
    return [{ at: jobAttempt.notBefore!, outcome: "QUEUE", reason: "backoff", message: "" }];
  }
  if (jobAttempt.status === "KILLING") {
    return [
      {
        at: (jobAttempt.killingSince ?? 0) + settings.killGraceMs,
        outcome: "KILLED",
        reason: "cancelled",
        message: "the agent did not confirm the cancel in time; the job was marked killed",
      },
    ];
  }
  return [];
}

function timeoutOf(state: RunState, key: string): number {
  return pipelineJob(state.run.definition, key)?.timeoutMs ?? Number.MAX_SAFE_INTEGER;
}

function approvalTimeoutOf(state: RunState, key: string): number | null {
  return pipelineJob(state.run.definition, key)?.approval?.timeoutMs ?? null;
}

/** The next time `tick` has something to do, or null when nothing is running. */
export function nextDeadline(state: RunState, settings: EngineSettings): number | null {
  let next: number | null = null;
  for (const job of state.attempts[state.attempts.length - 1]?.jobs ?? []) {
    const latest = job.attempts[job.attempts.length - 1];
    const first = latest && deadlines(state, job.key, latest, settings)[0];
    if (first && (next === null || first.at < next)) next = first.at;
  }
  return next;
}

/** Ends every job attempt whose deadline has passed. */
export function tick(txn: Txn): void {
  for (const shared of txn.attempt.jobs) {
    const sharedLatest = shared.attempts[shared.attempts.length - 1];
    if (!sharedLatest) continue;
    const due = deadlines(txn.state, shared.key, sharedLatest, txn.ctx.settings)[0];
    if (!due || due.at > txn.now || due.outcome === "QUEUE") continue;
    if (due.outcome === "APPROVAL_TIMEOUT") {
      if (txn.attempt.status !== "KILLING") expireApproval(txn, shared, approvalTimeoutOf(txn.state, shared.key)!);
      continue;
    }
    const job = txn.own(shared);
    const latest = job.attempts[job.attempts.length - 1]!;
    latest.message = due.message;
    // A forced KILLED keeps the cancel's reason (`cancelled`, or `superseded`).
    endJobAttempt(txn, job, latest, due.outcome, due.outcome === "KILLED" ? (latest.reason ?? due.reason) : due.reason);
  }
  enqueueReadyJobs(txn); // retries whose backoff is over
}
