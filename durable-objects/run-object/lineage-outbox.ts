/**
 * The RunObject's OpenLineage outbox: every event the run emitted, in emission order (`seq`),
 * with its delivery state. Rows are written in the command's own storage transaction, so an
 * event exists exactly when the state change that caused it committed; they are kept after
 * delivery, for GET /api/v1/runs/:run/lineage and for the run-cycle bookkeeping.
 *
 * Delivery states: `pending` (to send), `sent` (the backend answered 2xx), `rejected` (it
 * answered a 4xx: kept with the status and an excerpt of the answer, never sent again),
 * `not_configured` (recorded while no backend was configured; sent, in order, if one is
 * configured later and the run's object delivers again).
 */
import type { CycleState, EventType, RunEvent } from "../../domain/lineage/index.ts";
import { TERMINAL_EVENT_TYPES } from "../../domain/lineage/index.ts";

export const LINEAGE_MIGRATIONS = [
  `CREATE TABLE lineage_events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, event_type TEXT NOT NULL,
     event_time TEXT NOT NULL, job_name TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0, http_status INTEGER, error TEXT,
     recorded_at INTEGER NOT NULL, last_attempt_at INTEGER, sent_at INTEGER);
   CREATE INDEX lineage_events_run ON lineage_events (run_id);
   CREATE INDEX lineage_events_undelivered ON lineage_events (seq) WHERE state IN ('pending', 'not_configured');`,
];

export type DeliveryState = "pending" | "sent" | "rejected" | "not_configured";

export interface LineageRow {
  seq: number;
  runId: string;
  eventType: EventType;
  eventTime: string;
  jobName: string;
  /** The event exactly as it is (or was) sent: JSON text. */
  body: string;
  state: DeliveryState;
  /** POSTs tried so far. */
  attempts: number;
  /** The backend's last answer (null before the first, or when it could not be reached). */
  httpStatus: number | null;
  /** Why the last try failed or was rejected (network error, or an excerpt of the answer). */
  error: string | null;
  recordedAt: number;
  lastAttemptAt: number | null;
  sentAt: number | null;
}

type Row = {
  seq: number;
  run_id: string;
  event_type: string;
  event_time: string;
  job_name: string;
  body: string;
  state: string;
  attempts: number;
  http_status: number | null;
  error: string | null;
  recorded_at: number;
  last_attempt_at: number | null;
  sent_at: number | null;
};

const toRow = (r: Row): LineageRow => ({
  seq: r.seq,
  runId: r.run_id,
  eventType: r.event_type as EventType,
  eventTime: r.event_time,
  jobName: r.job_name,
  body: r.body,
  state: r.state as DeliveryState,
  attempts: r.attempts,
  httpStatus: r.http_status,
  error: r.error,
  recordedAt: r.recorded_at,
  lastAttemptAt: r.last_attempt_at,
  sentAt: r.sent_at,
});

const COLUMNS = "seq, run_id, event_type, event_time, job_name, body, state, attempts, http_status, error, recorded_at, last_attempt_at, sent_at";
const UNDELIVERED = "state IN ('pending', 'not_configured')";

export class LineageOutbox {
  constructor(private readonly sql: SqlStorage) {}

  /** Appends events in order. Call inside the command's `transactionSync`. */
  append(events: readonly RunEvent[], state: "pending" | "not_configured", now: number): void {
    for (const event of events) {
      this.sql.exec(
        "INSERT INTO lineage_events (run_id, event_type, event_time, job_name, body, state, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        event.run.runId,
        event.eventType,
        event.eventTime,
        `${event.job.namespace}/${event.job.name}`,
        JSON.stringify(event),
        state,
        now,
      );
    }
  }

  /** What was recorded for a runId: whether it started, whether it ended. */
  cycle(runId: string): CycleState {
    const types = this.sql
      .exec<{ event_type: string }>("SELECT DISTINCT event_type FROM lineage_events WHERE run_id = ?", runId)
      .toArray()
      .map((r) => r.event_type as EventType);
    return { started: types.includes("START"), ended: types.some((t) => TERMINAL_EVENT_TYPES.includes(t)) };
  }

  /** The oldest event not delivered yet: the head of the one ordered queue. */
  next(): LineageRow | undefined {
    const row = this.sql.exec<Row>(`SELECT ${COLUMNS} FROM lineage_events WHERE ${UNDELIVERED} ORDER BY seq LIMIT 1`).toArray()[0];
    return row && toRow(row);
  }

  hasUndelivered(): boolean {
    return this.sql.exec(`SELECT 1 FROM lineage_events WHERE ${UNDELIVERED} LIMIT 1`).toArray().length > 0;
  }

  sent(seq: number, httpStatus: number, now: number): void {
    this.sql.exec(
      "UPDATE lineage_events SET state = 'sent', attempts = attempts + 1, http_status = ?, error = NULL, last_attempt_at = ?, sent_at = ? WHERE seq = ?",
      httpStatus,
      now,
      now,
      seq,
    );
  }

  rejected(seq: number, httpStatus: number | null, error: string | null, now: number): void {
    this.sql.exec(
      "UPDATE lineage_events SET state = 'rejected', attempts = attempts + 1, http_status = ?, error = ?, last_attempt_at = ? WHERE seq = ?",
      httpStatus,
      error,
      now,
      seq,
    );
  }

  /** A try that will be repeated: the event stays at the head of the queue, now `pending`. */
  failed(seq: number, httpStatus: number | null, error: string | null, now: number): void {
    this.sql.exec(
      "UPDATE lineage_events SET state = 'pending', attempts = attempts + 1, http_status = ?, error = ?, last_attempt_at = ? WHERE seq = ?",
      httpStatus,
      error,
      now,
      seq,
    );
  }

  /** A page of events in order, after `after` (a seq). */
  page(after: number, limit: number): LineageRow[] {
    return this.sql
      .exec<Row>(`SELECT ${COLUMNS} FROM lineage_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
      .toArray()
      .map(toRow);
  }

  counts(): Record<DeliveryState, number> {
    const counts: Record<DeliveryState, number> = { pending: 0, sent: 0, rejected: 0, not_configured: 0 };
    for (const r of this.sql.exec<{ state: string; n: number }>("SELECT state, COUNT(*) AS n FROM lineage_events GROUP BY state")) {
      counts[r.state as DeliveryState] = r.n;
    }
    return counts;
  }
}
