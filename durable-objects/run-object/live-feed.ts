/**
 * The run's live feed in the RunObject's SQLite: one row per state transition and per stored
 * log chunk, numbered by a run-wide `seq`, written in the same storage transaction (or the same
 * synchronous block) as the change itself, so `?since=` resumes exactly after an eviction.
 *
 * Log rows hold no bytes: they point at the chunk (job attempt, chunk seq, offset, length).
 * The bytes are read from `log_chunks` (log-store.ts) while the job runs; once the log is
 * archived to R2 and those chunks are dropped, from the archive by byte range. So a resume is
 * gapless for the run's whole life, and log bytes are stored once.
 */
import { type Effect, locateJobAttempt, type RunState, type TransitionEffect } from "../../domain/run-engine/index.ts";
import type { Env } from "../../platform/env.ts";
import type { FeedPage, FeedSource } from "../live-fanout.ts";
import type { LogChunk } from "./extension.ts";
import { LogArchive } from "./log-archive.ts";
import { LogStore } from "./log-store.ts";
import { isoTime } from "../../domain/time.ts";

export const LIVE_FEED_MIGRATIONS = [
  `CREATE TABLE live_events (
     seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, job_key TEXT, doc TEXT NOT NULL,
     job_attempt_id TEXT, chunk_seq INTEGER, log_offset INTEGER, log_len INTEGER);
   CREATE INDEX live_events_job ON live_events (job_key, seq);`,
];

/** Narrows a stream to one job (its transitions and logs, plus the run's own transitions). */
export interface RunFilter {
  job: string | null;
}

/** Rows looked at per read; a page is cut shorter by its byte budget. */
const PAGE_ROWS = 256;
/** Rows read first (see `read`). */
const FIRST_ROWS = 8;

/** The rows from the first that fit in `maxBytes` (log bytes counted as base64), at least one. */
function cut(rows: EventRow[], maxBytes: number): EventRow[] {
  const page: EventRow[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = row.doc.length + (row.log_len ?? 0) * (4 / 3);
    if (page.length > 0 && bytes + size > maxBytes) break;
    page.push(row);
    bytes += size;
  }
  return page;
}

interface EventRow extends Record<string, SqlStorageValue> {
  seq: number;
  kind: string;
  doc: string;
  job_attempt_id: string | null;
  chunk_seq: number | null;
  log_offset: number | null;
  log_len: number | null;
}


/**
 * Viewers behind the archive (a burst outran them, or they resumed late) read it from R2; each
 * group of viewers at its own place would read its own page. Instead a whole part is read once
 * and the last few are kept (archived bytes never change), so the groups read R2 once per part
 * between them. A part larger than the limit (a log archived whole, before parts) is read by
 * range as before. Memory: at most CACHED_PARTS × MAX_CACHED_PART bytes.
 */
const CACHED_PARTS = 4;
const MAX_CACHED_PART = 8 * 1024 * 1024;

export class RunFeed implements FeedSource<RunFilter> {
  private readonly archive: LogArchive;
  /** Whole archive parts lately read from R2, the most recent last. */
  private parts: { jobAttemptId: string; from: number; bytes: Uint8Array }[] = [];

  constructor(
    private readonly sql: SqlStorage,
    env: Env,
    private readonly runId: () => string | undefined,
  ) {
    this.archive = new LogArchive(sql, env.ARTIFACTS);
  }

  private archivedBytes(jobAttemptId: string): number {
    return new LogStore(this.sql).head(jobAttemptId).archivedBytes;
  }

  /**
   * The last seq, kept in memory: the fan-out asks once per round and per read, and the query cost
   * more than a round's own work. Every write to the feed goes through this class and forgets it
   * (a transaction that rolls back re-reads it); so does `forgetHead` after the rows are removed.
   */
  private lastSeq: number | null = null;

  head(): number {
    this.lastSeq ??= this.sql.exec<{ head: number | null }>("SELECT max(seq) AS head FROM live_events").one().head ?? 0;
    return this.lastSeq;
  }

  /** After the feed's rows were deleted from outside this class (retention, the run's removal). */
  forgetHead(): void {
    this.lastSeq = null;
  }

  /** Call inside the command's storage transaction. */
  appendTransitions(state: RunState, transitions: TransitionEffect[]): void {
    for (const t of transitions) {
      const located = t.jobAttemptId ? locateJobAttempt(state, t.jobAttemptId) : undefined;
      const doc: Record<string, unknown> = {
        kind: "transition",
        at: isoTime(t.at),
        entity: t.entity,
        id: t.id,
        from: t.from,
        to: t.to,
        reason: t.reason,
        runAttempt: t.runAttempt,
      };
      if (t.jobKey !== undefined) doc.jobKey = t.jobKey;
      if (t.jobAttemptId !== undefined) doc.jobAttemptId = t.jobAttemptId;
      if (located) doc.jobAttempt = located.jobAttempt.number;
      if (t.stepId !== undefined) doc.stepId = t.stepId;
      if (t.stepAttempt !== undefined) doc.stepAttempt = t.stepAttempt;
      if (t.entity === "job_attempt" && located) doc.agent = located.jobAttempt.agentName;
      if (t.entity === "step" && located) doc.exitCode = located.jobAttempt.steps.find((s) => s.id === t.stepId)?.exitCode ?? null;
      this.lastSeq = null;
      this.sql.exec(
        "INSERT INTO live_events (kind, job_key, doc) VALUES ('transition', ?, ?)",
        t.jobKey ?? null,
        JSON.stringify(doc),
      );
    }
  }

  /** Call inside the command's storage transaction: a row per step that reported metrics, and per job waiting for its group or no more. */
  appendProgress(state: RunState, effects: readonly Effect[], at: number): void {
    for (const effect of effects) {
      if (effect.type === "awaitingGroup") this.appendWaiting(state, effect.jobAttemptId, at);
      if (effect.type !== "progress") continue;
      const located = locateJobAttempt(state, effect.jobAttemptId);
      const step = located?.jobAttempt.steps.find((s) => s.id === effect.stepId);
      if (!located || !step) continue;
      const doc = {
        kind: "progress",
        at: isoTime(at),
        jobKey: located.job.key,
        jobAttemptId: effect.jobAttemptId,
        runAttempt: located.attempt.number,
        jobAttempt: located.jobAttempt.number,
        stepId: effect.stepId,
        metrics: step.metrics,
      };
      this.lastSeq = null;
      this.sql.exec("INSERT INTO live_events (kind, job_key, doc) VALUES ('progress', ?, ?)", located.job.key, JSON.stringify(doc));
    }
  }

  private appendWaiting(state: RunState, jobAttemptId: string, at: number): void {
    const located = locateJobAttempt(state, jobAttemptId);
    if (!located) return;
    const { job, attempt, jobAttempt } = located;
    const doc = { kind: "waiting", at: isoTime(at), jobKey: job.key, jobAttemptId, runAttempt: attempt.number, jobAttempt: jobAttempt.number, waitingOn: job.waitingOn };
    this.lastSeq = null;
    this.sql.exec("INSERT INTO live_events (kind, job_key, doc) VALUES ('waiting', ?, ?)", job.key, JSON.stringify(doc));
  }

  /** A log chunk was stored: point at it. */
  appendLog(state: RunState, chunk: LogChunk, at: number): void {
    const located = locateJobAttempt(state, chunk.jobAttemptId);
    const doc = {
      kind: "log",
      at: isoTime(at),
      jobKey: chunk.jobKey,
      jobAttemptId: chunk.jobAttemptId,
      runAttempt: located?.attempt.number ?? 0,
      jobAttempt: located?.jobAttempt.number ?? 0,
      offset: chunk.offset,
    };
    this.lastSeq = null;
    this.sql.exec(
      "INSERT INTO live_events (kind, job_key, doc, job_attempt_id, chunk_seq, log_offset, log_len) VALUES ('log', ?, ?, ?, ?, ?, ?)",
      chunk.jobKey,
      JSON.stringify(doc),
      chunk.jobAttemptId,
      chunk.seq,
      chunk.offset,
      chunk.data.byteLength,
    );
  }

  async read(after: number, filter: RunFilter, maxBytes: number): Promise<FeedPage> {
    // Everything synchronous first (one consistent view of the table), then R2 if needed.
    const head = this.head();
    const query = (limit: number) =>
      (filter.job === null
        ? this.sql.exec<EventRow>(
            "SELECT seq, kind, doc, job_attempt_id, chunk_seq, log_offset, log_len FROM live_events WHERE seq > ? ORDER BY seq LIMIT ?",
            after,
            limit,
          )
        : // Two index range scans (job_key, seq) rather than one scan past every other job's rows.
          this.sql.exec<EventRow>(
            `SELECT * FROM (
               SELECT seq, kind, doc, job_attempt_id, chunk_seq, log_offset, log_len FROM live_events WHERE job_key = ? AND seq > ?
               UNION ALL
               SELECT seq, kind, doc, job_attempt_id, chunk_seq, log_offset, log_len FROM live_events WHERE job_key IS NULL AND seq > ?
             ) ORDER BY seq LIMIT ?`,
            filter.job,
            after,
            after,
            limit,
          )
      ).toArray();
    // A few rows first: a page is usually one or two (a viewer catching up behind 1 MiB chunks takes
    // one per frame, and materializing the 256 after it each time was a tenth of a fan-out round).
    // Only when they all fit is the full page read; the page is the same either way.
    let limit = FIRST_ROWS;
    let rows = query(limit);
    let page = cut(rows, maxBytes);
    if (page.length === rows.length && rows.length === limit) {
      limit = PAGE_ROWS;
      rows = query(limit);
      page = cut(rows, maxBytes);
    }
    // A filtered read that saw every remaining row has also passed the rows it skipped.
    const through = page.length === rows.length && rows.length < limit ? head : (page[page.length - 1]?.seq ?? after);
    const data = this.heldChunks(page);
    await this.fetchArchived(page, data);
    // A log event's bytes go in the frame as its socket's protocol says (base64 or raw: ../live-fanout.ts).
    const events = page.map((row) => `{"seq":${row.seq},${row.doc.slice(1, -1)}}`);
    return { events, data: page.map((row) => (row.kind === "log" ? data.get(row.seq)! : undefined)), through };
  }

  /** The bytes of the page's log rows still held as chunks, by event seq. */
  private heldChunks(page: EventRow[]): Map<number, Uint8Array> {
    const data = new Map<number, Uint8Array>();
    for (const row of page) {
      if (row.kind !== "log") continue;
      const chunk = this.sql
        .exec<{ data: ArrayBuffer }>("SELECT data FROM log_chunks WHERE job_attempt_id = ? AND seq = ?", row.job_attempt_id, row.chunk_seq)
        .toArray()[0];
      if (chunk) data.set(row.seq, new Uint8Array(chunk.data));
    }
    return data;
  }

  /** Fills in archived chunks: from the parts held in memory, else from R2 (see CACHED_PARTS). */
  private async fetchArchived(page: EventRow[], data: Map<number, Uint8Array>): Promise<void> {
    const missing = new Map<string, EventRow[]>();
    for (const row of page) {
      if (row.kind === "log" && !data.has(row.seq)) missing.set(row.job_attempt_id!, [...(missing.get(row.job_attempt_id!) ?? []), row]);
    }
    if (missing.size === 0) return;
    const runId = this.runId();
    if (!runId) throw new Error("no run here");
    for (const [jobAttemptId, rows] of missing) {
      const archivedBytes = this.archivedBytes(jobAttemptId);
      const uncached: EventRow[] = [];
      for (const row of rows) {
        const from = row.log_offset!;
        const to = from + row.log_len!;
        const part = await this.cachedPart(runId, jobAttemptId, archivedBytes, from, to);
        if (part) data.set(row.seq, part.bytes.subarray(from - part.from, to - part.from));
        else uncached.push(row);
      }
      if (uncached.length === 0) continue;
      // An archive in one large part: the page's range alone, in one read.
      const from = Math.min(...uncached.map((r) => r.log_offset!));
      const to = Math.max(...uncached.map((r) => r.log_offset! + r.log_len!));
      const bytes = await this.readArchive(runId, jobAttemptId, archivedBytes, from, to);
      for (const row of uncached) data.set(row.seq, bytes.subarray(row.log_offset! - from, row.log_offset! - from + row.log_len!));
    }
  }

  /** The whole archive part holding bytes [from, to), from memory or read once; null when it is too large to keep. */
  private async cachedPart(runId: string, jobAttemptId: string, archivedBytes: number, from: number, to: number) {
    const held = this.parts.find((p) => p.jobAttemptId === jobAttemptId && p.from <= from && to <= p.from + p.bytes.byteLength);
    if (held) return held;
    const part = this.archive.parts(jobAttemptId, archivedBytes).find((p) => p.start <= from && to <= p.end);
    if (!part || part.end - part.start > MAX_CACHED_PART) return null;
    const region = { jobAttemptId, from: part.start, bytes: await this.readArchive(runId, jobAttemptId, archivedBytes, part.start, part.end) };
    this.parts = [...this.parts.slice(-(CACHED_PARTS - 1)), region];
    return region;
  }

  private async readArchive(runId: string, jobAttemptId: string, archivedBytes: number, from: number, to: number): Promise<Uint8Array> {
    const bytes = new Uint8Array(to - from);
    let at = 0;
    for await (const part of this.archive.read(runId, jobAttemptId, archivedBytes, from, to)) {
      bytes.set(part.subarray(0, bytes.byteLength - at), at);
      at += part.byteLength;
    }
    if (at < to - from) throw new Error(`the log archive of ${jobAttemptId} is shorter than expected`);
    return bytes;
  }
}
