/**
 * The run's calls to its project's ConcurrencyGroupsObject (docs/state-machine.md, "Concurrency
 * groups"): each `acquire` and `release` the engine asked for (domain/run-engine/concurrency.ts)
 * is written in the command's storage transaction and delivered in order afterwards, retried
 * from the alarm with backoff while the group object cannot be reached. So a group is always
 * given back when its holder ends — by success, failure, cancel, timeout, a lost agent or a
 * newer run — and an acquire is never overtaken by its own release.
 */
import type { Effect, RunState } from "../../domain/run-engine/index.ts";
import { isoTime } from "../../domain/time.ts";
import type { Env } from "../../platform/env.ts";
import { concurrencyGroupsStub } from "../../platform/stubs.ts";
import { OutboxStatus } from "../outbox-status.ts";
import { SerialFlush } from "../serial-flush.ts";
import type { Committed, RunExtension } from "./extension.ts";

const MIGRATIONS = [`CREATE TABLE concurrency_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, project_id TEXT NOT NULL, op TEXT NOT NULL);`];

/** When rows wait and nothing failed yet, the alarm looks again this soon (a lost kick). */
const SAFETY_RETRY_MS = 1000;

type GroupEffect = Extract<Effect, { type: "concurrency" }>;
type Op = GroupEffect & { runId: string; runNumber: number };

/** Whether a call to the group object is still undelivered: the run is not deleted until it is (its group would stay held). */
export function hasGroupCalls(sql: SqlStorage): boolean {
  return sql.exec("SELECT 1 FROM concurrency_outbox LIMIT 1").toArray().length > 0;
}

export class ConcurrencyOutbox implements RunExtension {
  readonly migrations = { name: "concurrency", statements: MIGRATIONS };
  private readonly status: OutboxStatus;
  private readonly flush: SerialFlush;

  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
  ) {
    this.status = new OutboxStatus(sql, "concurrency");
    this.flush = new SerialFlush(() => this.deliver());
  }

  record({ state, effects }: Committed): void {
    for (const effect of effects) {
      if (effect.type !== "concurrency") continue;
      const op: Op = { ...effect, runId: state.run.id, runNumber: state.run.number };
      this.sql.exec("INSERT INTO concurrency_outbox (project_id, op) VALUES (?, ?)", state.run.projectId, JSON.stringify(op));
    }
  }

  committed(_committed: Committed): void {
    if (this.hasRows() && !this.status.backingOff(Date.now())) void this.flush.request();
  }

  nextAlarmAt(now: number): number | null {
    if (!this.hasRows()) return null;
    return this.status.retryAt() ?? now + SAFETY_RETRY_MS;
  }

  async alarm(now: number, _state: RunState | null): Promise<void> {
    if (this.hasRows() && !this.status.backingOff(now)) await this.flush.request();
  }

  private hasRows(): boolean {
    return hasGroupCalls(this.sql);
  }

  /** Oldest first; a failure stops there and the alarm retries. Both calls are idempotent in the group object. */
  private async deliver(): Promise<void> {
    for (;;) {
      if (this.status.backingOff(Date.now())) return;
      const head = this.sql.exec<{ seq: number; project_id: string; op: string }>("SELECT seq, project_id, op FROM concurrency_outbox ORDER BY seq LIMIT 1").toArray()[0];
      if (!head) return;
      const op = JSON.parse(head.op) as Op;
      const groups = concurrencyGroupsStub(this.env, head.project_id);
      try {
        if (op.op === "acquire") {
          await groups.acquire({ group: op.group, holder: op.holder, runId: op.runId, runNumber: op.runNumber, cancelInProgress: op.cancelInProgress, label: op.label });
        } else {
          await groups.release({ group: op.group, holder: op.holder });
        }
        this.sql.exec("DELETE FROM concurrency_outbox WHERE seq = ?", head.seq);
        this.status.succeeded();
      } catch (error) {
        const retryAt = this.status.failed(Date.now(), error);
        console.warn(`concurrency ${op.op} of ${op.group} not delivered, retry at ${isoTime(retryAt)}: ${String(error)}`);
        return;
      }
    }
  }
}
