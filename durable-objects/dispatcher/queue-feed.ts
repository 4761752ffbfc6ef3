/**
 * The queue's live feed (`GET /api/v1/queue/live`, docs/live.md): every enqueue, claim,
 * requeue, reorder and removal is numbered into `queue_events` in the dispatcher's SQLite, in
 * the same synchronous block as the queue change, and fanned out to WebSockets (Hibernation
 * API, ../live-fanout.ts). Events carry their project so a viewer limited to some projects sees
 * only theirs. The feed keeps the last RETAINED_EVENTS events: a resume older than that gets a
 * fresh snapshot instead (a queue page needs the present, not the whole past).
 */
import { LIVE_PROTOCOL, type LiveQueueEntry, type QueueSnapshot } from "../../domain/live.ts";
import type { QueueItem } from "../../domain/run-engine/effects.ts";
import { DEFAULT_QUEUE } from "../../domain/queues.ts";
import { type FanoutOptions, type FeedPage, type FeedSource, LiveFanout } from "../live-fanout.ts";
import { isWebSocketUpgrade, jsonError, parseSince, upgradeRequired, visibleProjects } from "../../platform/live-http.ts";
import type { QueueRow, QueueStore } from "./queue-store.ts";
import { isoTime } from "../../domain/time.ts";

export const QUEUE_FEED_MIGRATIONS = [
  `CREATE TABLE queue_events (seq INTEGER PRIMARY KEY, project TEXT NOT NULL, doc TEXT NOT NULL);`,
];

export const RETAINED_EVENTS = 10_000;
const PAGE_ROWS = 500;

/** The projects a viewer may see; null = all. */
export interface QueueFilter {
  projects: string[] | null;
}


export function liveEntry(row: QueueRow): LiveQueueEntry {
  return {
    jobAttemptId: row.jobAttemptId,
    // Rows queued before queues existed name none: they are `default`'s.
    queue: row.queue ?? DEFAULT_QUEUE,
    runId: row.runId,
    runNumber: row.runNumber,
    project: row.project,
    pipeline: row.pipeline,
    jobKey: row.jobKey,
    runAttempt: row.runAttempt,
    jobAttempt: row.jobAttempt,
    labels: row.labels,
    priority: row.priority,
    readyAt: row.readyAt,
    state: row.state,
    order: row.position,
    agent: row.agentName,
    assignedAt: row.assignedAt === null ? null : isoTime(row.assignedAt),
  };
}

export class QueueFeed implements FeedSource<QueueFilter> {
  readonly fanout: LiveFanout<QueueFilter>;

  constructor(
    ctx: DurableObjectState,
    private readonly sql: SqlStorage,
    private readonly queue: QueueStore,
    options: FanoutOptions,
  ) {
    this.fanout = new LiveFanout(ctx, this, options);
  }

  // ── publishing (call right after the queue change, with no await between) ───────────────

  private publish(project: string, event: Record<string, unknown>): void {
    const seq = this.sql
      .exec<{ seq: number }>("INSERT INTO queue_events (project, doc) VALUES (?, ?) RETURNING seq", project, JSON.stringify({ at: isoTime(Date.now()), project, ...event }))
      .one().seq;
    if (seq % 500 === 0) this.sql.exec("DELETE FROM queue_events WHERE seq <= ?", seq - RETAINED_EVENTS);
    this.fanout.notify();
  }

  enqueued(items: QueueItem[]): void {
    for (const item of items) {
      const row = this.queue.get(item.jobAttemptId);
      if (row) this.publish(row.project, { kind: "enqueued", entry: liveEntry(row) });
    }
  }

  assigned(jobAttemptId: string): void {
    const row = this.queue.get(jobAttemptId);
    if (row?.agentName) this.publish(row.project, { kind: "assigned", jobAttemptId, agent: row.agentName, assignedAt: isoTime(row.assignedAt ?? Date.now()) });
  }

  reordered(jobAttemptId: string): void {
    const row = this.queue.get(jobAttemptId);
    if (row) this.publish(row.project, { kind: "reordered", jobAttemptId, priority: row.priority, order: row.position });
  }

  /** Removes rows from the queue (QueueStore.remove) and publishes each removal. */
  remove(jobAttemptIds: string[], reason: "cancelled" | "finished" | "refused", onlyQueued = false): string[] {
    const rows = new Map(jobAttemptIds.map((id) => [id, this.queue.get(id)]));
    const removed = this.queue.remove(jobAttemptIds, onlyQueued);
    for (const id of removed) {
      const row = rows.get(id);
      if (row) this.publish(row.project, { kind: "removed", jobAttemptId: id, reason });
    }
    return removed;
  }

  // ── reading ──────────────────────────────────────────────────────────────────────────────

  head(): number {
    return this.sql.exec<{ head: number | null }>("SELECT max(seq) AS head FROM queue_events").one().head ?? 0;
  }

  private oldest(): number {
    return this.sql.exec<{ oldest: number | null }>("SELECT min(seq) AS oldest FROM queue_events").one().oldest ?? this.head() + 1;
  }

  read(after: number, filter: QueueFilter, maxBytes: number): FeedPage {
    // A socket so far behind that its next events were pruned must start over from a snapshot.
    if (after < this.oldest() - 1) throw new Error(`events after ${after} are no longer kept`);
    const head = this.head();
    const rows = (
      filter.projects === null
        ? this.sql.exec<{ seq: number; doc: string }>("SELECT seq, doc FROM queue_events WHERE seq > ? ORDER BY seq LIMIT ?", after, PAGE_ROWS)
        : this.sql.exec<{ seq: number; doc: string }>(
            "SELECT seq, doc FROM queue_events WHERE seq > ? AND project IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?",
            after,
            JSON.stringify(filter.projects),
            PAGE_ROWS,
          )
    ).toArray();
    const events: string[] = [];
    let bytes = 0;
    for (const row of rows) {
      if (events.length > 0 && bytes + row.doc.length > maxBytes) break;
      events.push(`{"seq":${row.seq},${row.doc.slice(1)}`);
      bytes += row.doc.length;
    }
    const through = events.length === rows.length && rows.length < PAGE_ROWS ? head : rows[events.length - 1]!.seq;
    return { events, through };
  }

  snapshot(filter: QueueFilter): QueueSnapshot {
    const visible = (row: QueueRow) => filter.projects === null || filter.projects.includes(row.project);
    return {
      pending: [...this.queue.queuedInOrder()].filter(visible).map(liveEntry),
      running: this.queue.assigned().filter(visible).map(liveEntry),
    };
  }

  /** The WebSocket upgrade of `GET /api/v1/queue/live` (forwarded by the worker). */
  fetch(request: Request): Response {
    if (!isWebSocketUpgrade(request)) return upgradeRequired();
    const projects = visibleProjects(request);
    if (projects === "invalid") return jsonError(400, "invalid_projects", "internal: the worker sent no projects header");
    const filter: QueueFilter = { projects };
    const head = this.head();
    const since = parseSince(request, head, "the queue's");
    if (since instanceof Response) return since;
    const window = this.fanout.options.windowBytes;
    // A resume the feed no longer covers gets the present instead: a snapshot at the head.
    const resumable = since !== null && since >= this.oldest() - 1;
    const first = resumable
      ? JSON.stringify({ type: "resumed", protocol: LIVE_PROTOCOL, seq: since, window })
      : JSON.stringify({ type: "snapshot", protocol: LIVE_PROTOCOL, seq: head, window, queue: this.snapshot(filter) });
    const pair = new WebSocketPair();
    this.fanout.accept(pair[1], resumable ? since : head, filter, first, ["queue"]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }
}
