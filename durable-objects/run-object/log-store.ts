/**
 * A run's job logs. While a job attempt runs, its log is a sequence of chunks in the RunObject's
 * storage; each chunk has a sequence number (from 0) and the byte offset of its first byte. A
 * chunk already stored is acknowledged and not stored again; one past a gap is refused with
 * where to resume. A chunk that arrives late (after the job attempt's end, within the grace:
 * `lateLogGraceMs`, platform/settings.ts) is stored like any other. When the grace has run out
 * the log is archived to R2, and the chunks are dropped; later chunks are refused (410). A long
 * log is also archived while it runs, whenever ARCHIVE_PART_BYTES are held; each pass appends a
 * part (./log-archive.ts), so the archive is never rewritten. Bytes are kept exactly as sent.
 */
import { ARCHIVE_PART_BYTES, LOG_PART_MIGRATION } from "./log-archive.ts";

export const LOG_MIGRATIONS = [
  `CREATE TABLE log_chunks (job_attempt_id TEXT NOT NULL, seq INTEGER NOT NULL, offset INTEGER NOT NULL,
     data BLOB NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (job_attempt_id, seq));
   CREATE TABLE log_heads (job_attempt_id TEXT PRIMARY KEY, next_seq INTEGER NOT NULL, next_offset INTEGER NOT NULL,
     archive_due_at INTEGER, archived_bytes INTEGER NOT NULL DEFAULT 0);`,
  LOG_PART_MIGRATION,
];


export interface LogHead {
  nextSeq: number;
  nextOffset: number;
  /** When the log should be (re)archived to R2; null when the archive is current. */
  archiveDueAt: number | null;
  /** Bytes already in the R2 archive. */
  archivedBytes: number;
}

export type AppendOutcome =
  | { kind: "stored"; head: LogHead; chunk: { seq: number; offset: number; data: Uint8Array } }
  | { kind: "duplicate"; head: LogHead }
  | { kind: "gap"; head: LogHead };


export class LogStore {
  constructor(private readonly sql: SqlStorage) {}

  head(jobAttemptId: string): LogHead {
    const row = this.sql
      .exec<{ next_seq: number; next_offset: number; archive_due_at: number | null; archived_bytes: number }>(
        "SELECT next_seq, next_offset, archive_due_at, archived_bytes FROM log_heads WHERE job_attempt_id = ?",
        jobAttemptId,
      )
      .toArray()[0];
    return row
      ? { nextSeq: row.next_seq, nextOffset: row.next_offset, archiveDueAt: row.archive_due_at, archivedBytes: row.archived_bytes }
      : { nextSeq: 0, nextOffset: 0, archiveDueAt: null, archivedBytes: 0 };
  }

  private saveHead(jobAttemptId: string, head: LogHead): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO log_heads (job_attempt_id, next_seq, next_offset, archive_due_at, archived_bytes) VALUES (?, ?, ?, ?, ?)",
      jobAttemptId,
      head.nextSeq,
      head.nextOffset,
      head.archiveDueAt,
      head.archivedBytes,
    );
  }

  /**
   * Stores chunk `seq` if it is the next one. For an ended job attempt the archive is already
   * scheduled (at the grace's end) and stays so; should a chunk land after the archive anyway,
   * it is archived again rather than lost.
   */
  append(jobAttemptId: string, seq: number, offset: number, data: Uint8Array, now: number, ended: boolean): AppendOutcome {
    const head = this.head(jobAttemptId);
    if (seq < head.nextSeq) return { kind: "duplicate", head };
    if (seq > head.nextSeq || offset !== head.nextOffset) return { kind: "gap", head };
    this.sql.exec(
      "INSERT INTO log_chunks (job_attempt_id, seq, offset, data, at) VALUES (?, ?, ?, ?, ?)",
      jobAttemptId,
      seq,
      offset,
      data,
      now,
    );
    const nextOffset = offset + data.byteLength;
    const partDue = ended || nextOffset - head.archivedBytes >= ARCHIVE_PART_BYTES;
    const next: LogHead = { ...head, nextSeq: seq + 1, nextOffset, archiveDueAt: partDue ? (head.archiveDueAt ?? now) : head.archiveDueAt };
    this.saveHead(jobAttemptId, next);
    return { kind: "stored", head: next, chunk: { seq, offset, data } };
  }

  scheduleArchive(jobAttemptId: string, at: number): void {
    this.saveHead(jobAttemptId, { ...this.head(jobAttemptId), archiveDueAt: at });
  }

  /** Job attempts whose archive is due by `now`, and the soonest future due time. */
  dueArchives(now: number): { due: string[]; next: number | null } {
    const rows = this.sql
      .exec<{ job_attempt_id: string; archive_due_at: number }>(
        "SELECT job_attempt_id, archive_due_at FROM log_heads WHERE archive_due_at IS NOT NULL",
      )
      .toArray();
    const due = rows.filter((r) => r.archive_due_at <= now).map((r) => r.job_attempt_id);
    const future = rows.filter((r) => r.archive_due_at > now).map((r) => r.archive_due_at);
    return { due, next: future.length ? Math.min(...future) : null };
  }

  /**
   * The chunks still held here, from byte `from` up to byte `to`, in order. Reads a page of rows
   * at a time, so a long log never sits in memory whole and a cursor never spans an await.
   */
  *chunks(jobAttemptId: string, from = 0, to = Number.MAX_SAFE_INTEGER): Generator<Uint8Array> {
    let afterSeq = -1;
    for (;;) {
      const rows = this.sql
        .exec<{ data: ArrayBuffer; offset: number; seq: number }>(
          `SELECT data, offset, seq FROM log_chunks
           WHERE job_attempt_id = ? AND seq > ? AND offset + length(data) > ? AND offset < ? ORDER BY seq LIMIT 64`,
          jobAttemptId,
          afterSeq,
          from,
          to,
        )
        .toArray();
      if (rows.length === 0) return;
      for (const row of rows) {
        const bytes = new Uint8Array(row.data);
        yield bytes.subarray(Math.max(0, from - row.offset), Math.min(bytes.byteLength, to - row.offset));
        afterSeq = row.seq;
      }
    }
  }

  /**
   * Up to `limit` consecutive chunks covering bytes from `from` (the first may start before it),
   * read in one query: a snapshot that an archive running meanwhile cannot cut in the middle.
   */
  page(jobAttemptId: string, from: number, limit = 64): { offset: number; data: Uint8Array }[] {
    return this.sql
      .exec<{ data: ArrayBuffer; offset: number }>(
        `SELECT data, offset FROM log_chunks WHERE job_attempt_id = ? AND offset + length(data) > ? ORDER BY seq LIMIT ?`,
        jobAttemptId,
        from,
        limit,
      )
      .toArray()
      .map((row) => ({ offset: row.offset, data: new Uint8Array(row.data) }));
  }

  /** After the archive holds every byte up to `bytes`: drop those chunks, mark the archive current. */
  archived(jobAttemptId: string, bytes: number): void {
    this.sql.exec("DELETE FROM log_chunks WHERE job_attempt_id = ? AND offset + length(data) <= ?", jobAttemptId, bytes);
    const head = this.head(jobAttemptId);
    this.saveHead(jobAttemptId, { ...head, archivedBytes: bytes, archiveDueAt: head.nextOffset > bytes ? head.archiveDueAt : null });
  }
}

/** A stream of the given byte arrays, for R2 (which needs the total length up front). */
export function fixedLengthStream(parts: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  const { readable, writable } = new FixedLengthStream(length);
  // Not awaited: the reader (R2) pulls while this writes; a failure aborts the stream it reads.
  void (async () => {
    const writer = writable.getWriter();
    try {
      for await (const part of parts) await writer.write(part);
      await writer.close();
    } catch (error) {
      await writer.abort(error);
    }
  })();
  return readable;
}
