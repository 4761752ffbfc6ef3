/**
 * Claim idempotency. A claim's answer can be lost on its way back: the network drops while the
 * long poll is held, the dispatcher meanwhile hands a job to that claim, and the agent never
 * hears of it. The job would then stay RUNNING at its run, held by an agent that does not know
 * it, until it is declared lost (YM_AGENT_LOST_AFTER_SECONDS) — a queue slot held for nothing
 * and a spurious failed attempt. So the agent sends a `claimId` per claim and keeps it across
 * that claim's retries; the dispatcher records which job each (agent, claimId) was given, and a
 * retry gets that job again — with a new job token, since tokens are never stored, only their
 * hashes (RunObject.reissue). The record is in SQLite so that it outlives the object being
 * evicted or restarted, and it is kept as long as the job could still be saved (the lost-agent
 * time).
 *
 * While a try of the claim is still being worked out, a retry first settles it: it releases the
 * try if it is only waiting (its connection is gone) and waits for its outcome, so a claim never
 * gets two jobs.
 */
import type { JobAssignment } from "../../domain/protocol.ts";
import type { Result } from "../../platform/result.ts";

export const CLAIM_MIGRATIONS = [
  `CREATE TABLE claims (
     agent_id TEXT NOT NULL, claim_id TEXT NOT NULL, job_attempt_id TEXT NOT NULL, run_id TEXT NOT NULL,
     at INTEGER NOT NULL, PRIMARY KEY (agent_id, claim_id));
   CREATE INDEX claims_at ON claims (at);`,
];

type ClaimAnswer = Result<JobAssignment | null>;

export interface GivenJob {
  jobAttemptId: string;
  runId: string;
}

export class ClaimReplay {
  /** Tries being worked out now, by agent and claimId. */
  private readonly pending = new Map<string, Promise<ClaimAnswer>>();

  constructor(
    private readonly sql: SqlStorage,
    private readonly ttlMs: number,
  ) {}

  /** The job an earlier try of this claim was given, once every earlier try has settled. */
  async given(agentId: string, claimId: string, release: () => void): Promise<GivenJob | null> {
    const key = `${agentId}/${claimId}`;
    for (let p = this.pending.get(key); p; p = this.pending.get(key)) {
      release();
      await p.catch(() => null);
    }
    this.sql.exec("DELETE FROM claims WHERE at < ?", Date.now() - this.ttlMs);
    const row = this.sql
      .exec<{ job_attempt_id: string; run_id: string }>("SELECT job_attempt_id, run_id FROM claims WHERE agent_id = ? AND claim_id = ?", agentId, claimId)
      .toArray()[0];
    return row ? { jobAttemptId: row.job_attempt_id, runId: row.run_id } : null;
  }

  /** Follows this try of the claim, and records the job it is given. */
  remember(agentId: string, claimId: string, answer: Promise<ClaimAnswer>): void {
    const key = `${agentId}/${claimId}`;
    this.pending.set(key, answer);
    const settle = (result: ClaimAnswer | null) => {
      if (this.pending.get(key) === answer) this.pending.delete(key);
      if (result?.ok && result.value) {
        this.sql.exec(
          "INSERT OR REPLACE INTO claims (agent_id, claim_id, job_attempt_id, run_id, at) VALUES (?, ?, ?, ?, ?)",
          agentId,
          claimId,
          result.value.job.attemptId,
          result.value.run.id,
          Date.now(),
        );
      }
    };
    answer.then(settle, () => settle(null));
  }

  forget(agentId: string, claimId: string): void {
    this.sql.exec("DELETE FROM claims WHERE agent_id = ? AND claim_id = ?", agentId, claimId);
  }
}
