/**
 * The audit records of the actions on a run (docs/security.md "The audit log"): a trigger, a
 * cancel, a re-run, an approval, a job cancelled. The action is a command of the run's object,
 * not a D1 write, so its record cannot join a D1 batch; instead it is written into this outbox in
 * the command's own storage transaction (`record`), and flushed to D1's `audit_events` after it.
 * A refused command commits nothing, so records nothing; a command that committed has its record
 * kept here until D1 has it, across D1 outages (backoff, retried from the alarm like the other
 * outboxes) and evictions. Each record's id (uuidv7, chosen in the transaction) is its key in D1:
 * a flush repeated after a crash between D1's insert and the local delete inserts nothing twice.
 *
 * The actions on the whole run (trigger, cancel, re-run, approve, reject) are also kept here for
 * the run's life (`run_actions`), so a read of the run shows who acted without a D1 query.
 */
import { drizzle } from "drizzle-orm/d1";
import { uuidv7 } from "uuidv7";
import { type AppendJobsResult, locateJobAttempt, type RunState } from "../../domain/run-engine/index.ts";
import type { AuditContext } from "../../platform/audit.ts";
import type { RunView } from "../../domain/views.ts";
import { auditEvents } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { fail, ok, type Result } from "../../platform/result.ts";
import { OutboxStatus } from "../outbox-status.ts";
import { SerialFlush } from "../serial-flush.ts";
import type { Committed, RunExtension } from "./extension.ts";

/** An action on the run by someone, as a command hands it to `commit`. */
export interface RunAction {
  action: "run.trigger" | "run.cancel" | "run.rerun" | "run.approve" | "run.reject" | "job.cancel" | "run.append-jobs";
  by: AuditContext;
  /** What was acted on when it is not the whole run (the run's id). */
  target?: string;
}

/** The record of an action on the whole run. */
export const acted =
  (action: RunAction["action"], by: AuditContext) =>
  (): RunAction => ({ action, by });

/** The record of jobs cancelled in the run, or none when no job was. */
export const cancelledJobs =
  (runId: string, by: AuditContext) =>
  (ids: string[]): RunAction | null =>
    ids.length > 0 ? { action: "job.cancel", by, target: `${runId}: ${ids.join(", ")}` } : null;

/**
 * The record of jobs a running job added to its run (`yardmaster-agent pipeline upload`), by the
 * agent that runs it; none when the upload added nothing (a repeat).
 */
export const appendedJobs =
  (state: RunState, jobAttemptId: string) =>
  ({ added }: AppendJobsResult): RunAction | null => {
    if (added.length === 0) return null;
    const attempt = locateJobAttempt(state, jobAttemptId)?.jobAttempt;
    const id = attempt?.agentId ?? "unknown";
    const by: AuditContext = { actor: { kind: "agent", id, name: attempt?.agentName ?? id }, ip: null };
    return { action: "run.append-jobs", by, target: `${state.run.id}: ${added.join(", ")}` };
  };

const MIGRATIONS = [
  `CREATE TABLE audit_outbox (
     id TEXT PRIMARY KEY, at INTEGER NOT NULL, actor_kind TEXT NOT NULL, actor_id TEXT NOT NULL,
     actor_name TEXT NOT NULL, action TEXT NOT NULL, project TEXT, target TEXT, ip TEXT);`,
  `CREATE TABLE run_actions (
     id TEXT PRIMARY KEY, at INTEGER NOT NULL, actor_kind TEXT NOT NULL, actor_id TEXT NOT NULL,
     actor_name TEXT NOT NULL, action TEXT NOT NULL);`,
];

/** The actions a run's view lists (`actions`, `triggeredBy`): someone acting on the whole run. */
const RUN_VIEW_ACTIONS: ReadonlySet<string> = new Set(["run.trigger", "run.cancel", "run.rerun", "run.approve", "run.reject"]);
/** At most this many are listed (as the D1 read of runs from before `run_actions` does). */
const RUN_VIEW_ACTIONS_LIMIT = 100;

/** Records per flush: one D1 batch (each insert a statement of 9 bound values, under D1's 100). */
const FLUSH_BATCH = 50;
/** When records wait and nothing failed yet, the alarm looks again this soon (a lost kick). */
const SAFETY_RETRY_MS = 1000;

type Row = typeof auditEvents.$inferInsert;
type StoredRow = {
  id: string;
  at: number;
  actor_kind: Row["actorKind"];
  actor_id: string;
  actor_name: string;
  action: string;
  project: string | null;
  target: string | null;
  ip: string | null;
};

export class AuditOutbox implements RunExtension {
  readonly migrations = { name: "audit_outbox", statements: MIGRATIONS };
  private readonly status: OutboxStatus;
  private readonly flusher: SerialFlush;

  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
  ) {
    this.status = new OutboxStatus(sql, "audit");
    this.flusher = new SerialFlush(() => this.deliver());
  }

  /** Inside the command's transaction: the record of who acted, if the command was an action. */
  record(committed: Committed): void {
    const done = committed.action;
    if (!done) return;
    const { run } = committed.state;
    const id = uuidv7();
    const who = [committed.now, done.by.actor.kind, done.by.actor.id, done.by.actor.name, done.action] as const;
    this.sql.exec(
      "INSERT INTO audit_outbox (id, at, actor_kind, actor_id, actor_name, action, project, target, ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      id,
      ...who,
      run.project,
      done.target ?? run.id,
      done.by.ip,
    );
    // The same record, kept for the run's view while the run lives (an action on the whole run only).
    if (RUN_VIEW_ACTIONS.has(done.action) && done.target === undefined) {
      this.sql.exec("INSERT INTO run_actions (id, at, actor_kind, actor_id, actor_name, action) VALUES (?, ?, ?, ?, ?, ?)", id, ...who);
    }
  }

  /**
   * Who acted on the run, oldest first, for its view; empty for a run whose object predates
   * `run_actions` (the route then reads D1's audit log, as it did before).
   */
  runActions(): Pick<RunView, "triggeredBy" | "actions"> {
    const rows = this.sql
      .exec<Omit<StoredRow, "project" | "target" | "ip">>("SELECT * FROM run_actions ORDER BY id LIMIT ?", RUN_VIEW_ACTIONS_LIMIT)
      .toArray();
    if (rows.length === 0) return {};
    const actions = rows.map((r) => ({ action: r.action, actor: { kind: r.actor_kind, id: r.actor_id, name: r.actor_name }, at: new Date(r.at).toISOString() }));
    return { triggeredBy: actions.find((a) => a.action === "run.trigger")?.actor ?? null, actions };
  }

  committed(committed: Committed): void {
    if (committed.action) void this.flush();
  }

  /**
   * Flushes now unless backing off after a failure (the alarm retries then). Awaited by the
   * commands a person waits on, so the log and the run's `actions` show the action at once.
   */
  flush(): Promise<void> {
    return this.pending() && !this.status.backingOff(Date.now()) ? this.flusher.request() : Promise.resolve();
  }

  /** Before the run's storage is deleted: every record in D1, or a refusal (409) while D1 fails. */
  async drain(): Promise<Result<null>> {
    if (this.pending()) await this.flusher.request(); // whatever the backoff says: the caller is waiting on D1 now
    return this.pending() ? fail(409, "audit_pending", "the run's audit records are not in D1 yet (D1 is failing); try again shortly") : ok(null);
  }

  private pending(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM audit_outbox").one().n;
  }

  nextAlarmAt(now: number): number | null {
    return this.pending() ? (this.status.retryAt() ?? now + SAFETY_RETRY_MS) : null;
  }

  /** The alarm comes at the backoff's time (nextAlarmAt): it flushes whatever the backoff says. */
  async alarm(): Promise<void> {
    if (this.pending()) await this.flusher.request();
  }

  /** Oldest first, a batch at a time; a failure keeps the records and backs off. */
  private async deliver(): Promise<void> {
    const d1 = drizzle(this.env.DB);
    for (;;) {
      const rows = this.sql.exec<StoredRow>("SELECT * FROM audit_outbox ORDER BY id LIMIT ?", FLUSH_BATCH).toArray();
      if (rows.length === 0) return;
      try {
        const [first, ...rest] = rows.map((r) => d1.insert(auditEvents).values(toD1(r)).onConflictDoNothing({ target: auditEvents.id }));
        await d1.batch([first!, ...rest]);
      } catch (error) {
        const retryAt = this.status.failed(Date.now(), error);
        console.warn(`audit: ${rows.length} record(s) not yet in D1, retry at ${new Date(retryAt).toISOString()}: ${String(error)}`);
        return;
      }
      this.sql.exec(`DELETE FROM audit_outbox WHERE id IN (${rows.map(() => "?").join(", ")})`, ...rows.map((r) => r.id));
      this.status.succeeded();
    }
  }
}

function toD1(r: StoredRow): Row {
  return {
    id: r.id,
    at: r.at,
    actorKind: r.actor_kind,
    actorId: r.actor_id,
    actorName: r.actor_name,
    action: r.action,
    project: r.project,
    target: r.target,
    ip: r.ip,
  };
}
