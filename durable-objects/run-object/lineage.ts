/**
 * OpenLineage for a run (docs/lineage.md), as a RunExtension:
 *  - record(): inside the command's storage transaction, builds the command's events (pure,
 *    domain/lineage) and appends them to the outbox — an event exists iff its state change
 *    committed, and a crash loses nothing.
 *  - committed() and alarm(): deliver the outbox in order, one event at a time, to the
 *    configured backend. A 2xx marks it sent; a 4xx (but 408/429) marks it rejected and
 *    delivery carries on; anything else (5xx, 408, 429, timeout, network) stops the queue
 *    there and retries with capped exponential backoff (OutboxStatus) for as long as it takes,
 *    so events of one runId always arrive in order and none is lost while the backend is down.
 *  - Nothing configured: events are still recorded (listed by the lineage route), nothing is sent.
 */
import type { RunState } from "../../domain/run-engine/index.ts";
import {
  type LineageEventView,
  type LineageListView,
  lineageEvents,
  lineageSettings,
  type LineageSettings,
  type LineageVars,
  LOG_TAIL_BYTES,
  logTail,
} from "../../domain/lineage/index.ts";
import type { RunEvent } from "../../domain/lineage/types.ts";
import { OutboxStatus } from "../outbox-status.ts";
import { SerialFlush } from "../serial-flush.ts";
import type { Committed, RunExtension } from "./extension.ts";
import { LINEAGE_MIGRATIONS, LineageOutbox, type LineageRow } from "./lineage-outbox.ts";
import { type Fetcher, sendEvent } from "./lineage-sender.ts";
import type { LogStore } from "./log-store.ts";
import { isoTime } from "../../domain/time.ts";

/** When events wait and nothing failed yet, the alarm looks again this soon (a lost kick). */
const SAFETY_RETRY_MS = 1000;


/**
 * What the RPC answers: the view of GET /api/v1/runs/:run/lineage with each event as its JSON
 * text (`body`, the bytes as sent), which the worker parses into `event`.
 */
export type LineageListing = Omit<LineageListView, "items"> & { items: (Omit<LineageEventView, "event"> & { body: string })[] };

export class LineageExtension implements RunExtension {
  readonly migrations = { name: "lineage", statements: LINEAGE_MIGRATIONS };
  readonly settings: LineageSettings;
  private readonly outbox: LineageOutbox;
  private readonly status: OutboxStatus;
  private readonly flush: SerialFlush;
  private warnedInvalid = false;

  constructor(
    sql: SqlStorage,
    vars: LineageVars,
    private readonly logs: LogStore,
    private readonly fetcher: Fetcher = (input, init) => fetch(input, init),
    /** Called inside record() with the events just recorded (dataset-trigger-outbox.ts). */
    private readonly onRecorded?: (events: RunEvent[], committed: Committed) => void,
  ) {
    // No storage access here: the RunObject runs the migrations after building its extensions.
    this.settings = lineageSettings(vars);
    this.outbox = new LineageOutbox(sql);
    this.status = new OutboxStatus(sql, "lineage");
    this.flush = new SerialFlush(() => this.deliver());
  }

  private get configured(): boolean {
    return this.settings.kind === "configured";
  }

  record(committed: Committed): void {
    let batch;
    try {
      batch = lineageEvents(committed.state, committed.effects, {
        cycle: (runId) => this.outbox.cycle(runId),
        logTail: (jobAttemptId) => this.logTail(jobAttemptId),
      });
    } catch (error) {
      // Building events is pure code; a bug there must not stop the run's own state change.
      console.error(`run ${committed.state.run.id}: building lineage events failed:`, error);
      return;
    }
    if (batch.dropped.length > 0) {
      console.warn(`run ${committed.state.run.id}: lineage events outside the run cycle dropped: ${JSON.stringify(batch.dropped)}`);
    }
    this.outbox.append(batch.events, this.configured ? "pending" : "not_configured", committed.now);
    this.onRecorded?.(batch.events, committed);
    if (this.settings.kind === "invalid" && batch.events.length > 0 && !this.warnedInvalid) {
      this.warnedInvalid = true;
      console.warn(`run ${committed.state.run.id}: lineage events are not sent: ${this.settings.message}`);
    }
  }

  committed(committed: Committed): void {
    if (this.configured && !this.status.backingOff(committed.now)) void this.flush.request();
  }

  nextAlarmAt(now: number): number | null {
    if (!this.configured || !this.outbox.hasUndelivered()) return null;
    return this.status.retryAt() ?? now + SAFETY_RETRY_MS;
  }

  async alarm(now: number, _state: RunState | null): Promise<void> {
    if (this.configured && !this.status.backingOff(now)) await this.flush.request();
  }

  /** The end of a job attempt's log, still in storage when the attempt has just ended. */
  private logTail(jobAttemptId: string): string | null {
    const head = this.logs.head(jobAttemptId);
    const from = Math.max(head.archivedBytes, head.nextOffset - LOG_TAIL_BYTES);
    if (head.nextOffset <= from) return null;
    const parts = [...this.logs.chunks(jobAttemptId, from, head.nextOffset)];
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.byteLength;
    }
    return logTail(bytes, from === 0);
  }

  /** Sends the queue from its head until it is empty or a try fails (then the alarm retries). */
  private async deliver(): Promise<void> {
    if (this.settings.kind !== "configured") return;
    const { config } = this.settings;
    let recovered = false;
    for (;;) {
      // A request that arrived during a failing try must not skip the backoff.
      if (this.status.backingOff(Date.now())) return;
      const head = this.outbox.next();
      if (!head) return;
      const result = await sendEvent(config, head.body, this.fetcher);
      const now = Date.now();
      if (result.outcome === "retry") {
        this.outbox.failed(head.seq, result.httpStatus, result.error, now);
        const retryAt = this.status.failed(now, new Error(result.error ?? "failed"));
        console.warn(`lineage: event ${head.seq} (${head.eventType} ${head.jobName}) not delivered, retry at ${isoTime(retryAt)}: ${result.error}`);
        return;
      }
      if (result.outcome === "sent") this.outbox.sent(head.seq, result.httpStatus!, now);
      else {
        this.outbox.rejected(head.seq, result.httpStatus, result.error, now);
        console.warn(`lineage: event ${head.seq} (${head.eventType} ${head.jobName}) rejected, not retried: ${result.error}`);
      }
      if (!recovered) {
        this.status.succeeded();
        recovered = true;
      }
    }
  }

  /** For the lineage route: a page of events in order, and how delivery stands. */
  list(after: number, limit: number): LineageListing {
    const rows = this.outbox.page(after, limit + 1);
    const page = rows.slice(0, limit);
    const counts = this.outbox.counts();
    return {
      items: page.map(view),
      cursor: rows.length > limit ? String(page[page.length - 1]!.seq) : null,
      delivery: {
        configured: this.configured,
        configError: this.settings.kind === "invalid" ? this.settings.message : null,
        pending: counts.pending,
        sent: counts.sent,
        rejected: counts.rejected,
        notConfigured: counts.not_configured,
        failures: this.status.failures(),
        nextRetryAt: isoTime(this.status.retryAt()),
        lastError: this.status.lastError(),
      },
    };
  }
}

function view(row: LineageRow): LineageListing["items"][number] {
  return {
    seq: row.seq,
    runId: row.runId,
    eventType: row.eventType,
    eventTime: row.eventTime,
    job: row.jobName,
    delivery: {
      state: row.state,
      attempts: row.attempts,
      httpStatus: row.httpStatus,
      error: row.error,
      lastAttemptAt: isoTime(row.lastAttemptAt),
      sentAt: isoTime(row.sentAt),
    },
    body: row.body,
  };
}
