/**
 * ConcurrencyGroupsObject: one per project (named by the project id), the only place that
 * decides who holds a concurrency group (docs/state-machine.md, "Concurrency groups"). Runs ask
 * for a group (`acquire`) and give it back (`release`) through their outbox
 * (durable-objects/run-object/concurrency-outbox.ts); each call here changes this object's
 * storage in one synchronous transaction, so two runs asking at once are put in order and at
 * most one holder per group is ever granted. Waiters are granted in the order they asked.
 * What the holders must be told — `grant`, or `superseded` for cancel-in-progress — goes into
 * this object's own outbox in the same transaction and is delivered in order, retried from the
 * alarm while a run cannot be reached.
 */
import { DurableObject } from "cloudflare:workers";
import type { ConcurrencyGroupView } from "../../domain/concurrency-groups.ts";
import type { GroupCall } from "../../domain/run-engine/index.ts";
import { isoTime } from "../../domain/time.ts";
import type { Env } from "../../platform/env.ts";
import { runStub } from "../../platform/stubs.ts";
import { OutboxStatus } from "../outbox-status.ts";
import { SerialFlush } from "../serial-flush.ts";
import { migrate } from "../sql-migrations.ts";

const MIGRATIONS = [
  `CREATE TABLE holders (seq INTEGER PRIMARY KEY AUTOINCREMENT, grp TEXT NOT NULL, holder TEXT NOT NULL UNIQUE,
     run_id TEXT NOT NULL, run_number INTEGER NOT NULL, label TEXT NOT NULL, held INTEGER NOT NULL, since INTEGER NOT NULL);
   CREATE INDEX holders_group ON holders (grp, seq);
   CREATE TABLE calls (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, call TEXT NOT NULL);
   CREATE TABLE outbox_status (name TEXT PRIMARY KEY, failures INTEGER NOT NULL, next_at INTEGER NOT NULL, last_error TEXT);`,
];

export interface AcquireRequest {
  group: string;
  /** The run attempt's id (a pipeline's group) or the job's id (a job's group). */
  holder: string;
  runId: string;
  runNumber: number;
  cancelInProgress: boolean;
  /** How people see the holder: `run #12`, `run #12 · deploy`. */
  label: string;
}

type HolderRow = { seq: number; grp: string; holder: string; run_id: string; run_number: number; label: string; held: number; since: number };

export class ConcurrencyGroupsObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly status: OutboxStatus;
  private readonly flush: SerialFlush;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(this.sql, [{ name: "groups", statements: MIGRATIONS }]);
    this.status = new OutboxStatus(this.sql, "calls");
    this.flush = new SerialFlush(() => this.deliver());
  }

  /**
   * A run (job) asks for its group. Asking again is a resend and changes nothing. With
   * cancel-in-progress every other run's holder and waiter of the group is superseded: a waiter
   * leaves the line at once, the holder keeps the group until its run has stopped and releases it.
   */
  async acquire(request: AcquireRequest): Promise<void> {
    this.ctx.storage.transactionSync(() => {
      if (this.sql.exec("SELECT 1 FROM holders WHERE holder = ?", request.holder).toArray().length > 0) return;
      if (request.cancelInProgress) {
        const others = this.sql.exec<HolderRow>("SELECT * FROM holders WHERE grp = ? AND run_id != ? ORDER BY seq", request.group, request.runId).toArray();
        for (const row of others) {
          this.call(row.run_id, { op: "supersede", holder: row.holder, by: { runId: request.runId, runNumber: request.runNumber } });
          if (!row.held) this.sql.exec("DELETE FROM holders WHERE seq = ?", row.seq);
        }
      }
      this.sql.exec(
        "INSERT INTO holders (grp, holder, run_id, run_number, label, held, since) VALUES (?, ?, ?, ?, ?, 0, ?)",
        request.group,
        request.holder,
        request.runId,
        request.runNumber,
        request.label,
        Date.now(),
      );
      this.grantNext(request.group);
    });
    await this.kick();
  }

  /** A holder ended (or no longer waits): the group goes to the next in line. Unknown holders are a resend. */
  async release(request: { group: string; holder: string }): Promise<void> {
    this.ctx.storage.transactionSync(() => this.drop(request.group, request.holder));
    await this.kick();
  }

  /** Every group with a holder or a waiter, for the queue page. */
  async list(): Promise<ConcurrencyGroupView[]> {
    const groups = new Map<string, ConcurrencyGroupView>();
    for (const row of this.sql.exec<HolderRow>("SELECT * FROM holders ORDER BY grp, seq")) {
      const group = groups.get(row.grp) ?? { group: row.grp, holder: null, waiting: [] };
      const view = { runId: row.run_id, runNumber: row.run_number, label: row.label, since: isoTime(row.since)! };
      if (row.held) group.holder = view;
      else group.waiting.push(view);
      groups.set(row.grp, group);
    }
    return [...groups.values()];
  }

  override async alarm(): Promise<void> {
    await this.flush.request();
    await this.scheduleRetry();
  }

  private drop(group: string, holder: string): void {
    this.sql.exec("DELETE FROM holders WHERE holder = ?", holder);
    this.grantNext(group);
  }

  /** With no holder, the oldest waiter gets the group. Inside a transaction. */
  private grantNext(group: string): void {
    const rows = this.sql.exec<HolderRow>("SELECT * FROM holders WHERE grp = ? ORDER BY held DESC, seq LIMIT 1", group).toArray();
    const next = rows[0];
    if (!next || next.held) return;
    this.sql.exec("UPDATE holders SET held = 1, since = ? WHERE seq = ?", Date.now(), next.seq);
    this.call(next.run_id, { op: "grant", holder: next.holder });
  }

  private call(runId: string, call: GroupCall): void {
    this.sql.exec("INSERT INTO calls (run_id, call) VALUES (?, ?)", runId, JSON.stringify(call));
  }

  /**
   * The alarm first (so a call is delivered even if this instance goes away), then the delivery
   * without waiting for it: the run asking may be the one a grant goes to.
   */
  private async kick(): Promise<void> {
    await this.scheduleRetry();
    const retryAt = this.status.retryAt();
    if (retryAt === null || retryAt <= Date.now()) void this.flush.request();
  }

  private async scheduleRetry(): Promise<void> {
    if (this.sql.exec("SELECT 1 FROM calls LIMIT 1").toArray().length === 0) return;
    await this.ctx.storage.setAlarm(this.status.retryAt() ?? Date.now() + 1000);
  }

  /**
   * Tells the runs, oldest call first. A run that answers `released` to a grant has ended
   * meanwhile (or was deleted): the group goes on to the next. A failure stops here; the alarm
   * retries with backoff, and the run's commands are idempotent, so a resend is harmless.
   */
  private async deliver(): Promise<void> {
    for (;;) {
      const head = this.sql.exec<{ seq: number; run_id: string; call: string }>("SELECT seq, run_id, call FROM calls ORDER BY seq LIMIT 1").toArray()[0];
      if (!head) return;
      const call = JSON.parse(head.call) as GroupCall;
      try {
        const answer = await runStub(this.env, head.run_id).groupCall(call);
        this.ctx.storage.transactionSync(() => {
          this.sql.exec("DELETE FROM calls WHERE seq = ?", head.seq);
          const gone = call.op === "grant" && (!answer.ok || answer.value === "released");
          const row = this.sql.exec<HolderRow>("SELECT * FROM holders WHERE holder = ?", call.holder).toArray()[0];
          if (gone && row) this.drop(row.grp, row.holder);
        });
        this.status.succeeded();
      } catch (error) {
        this.status.failed(Date.now(), error);
        console.warn(`concurrency groups: ${call.op} to run ${head.run_id} failed, will retry: ${String(error)}`);
        return;
      }
    }
  }
}
