/**
 * A job attempt's log archive in R2, appended in numbered parts (issue 20) rather than rewritten
 * whole: each archive pass writes only the bytes not archived yet, as the next part object, and
 * records the part's byte range in the object's SQLite (the manifest, `log_parts`). Part 0 is
 * the key a whole archive always had (`logs/<run>/<jobAttempt>.log`), so a log archived in one
 * pass — the usual case — is still one object there, and archives written before parts existed
 * (no manifest rows) read as that one part. Reads take a byte range across the parts it spans.
 */
/** Where a log's archive (its part 0) is in R2: under the run's `logs/` prefix (./removal.ts). */
export function logArchiveKey(runId: string, jobAttemptId: string): string {
  return `logs/${runId}/${jobAttemptId}.log`;
}

export const LOG_PART_MIGRATION = `CREATE TABLE log_parts (job_attempt_id TEXT NOT NULL, part INTEGER NOT NULL,
     start INTEGER NOT NULL, end INTEGER NOT NULL, PRIMARY KEY (job_attempt_id, part));`;

/** A running job attempt's log is archived once this many bytes are held (bounds the object's storage). */
export const ARCHIVE_PART_BYTES = 4 * 1024 * 1024;

interface Part {
  part: number;
  start: number;
  end: number;
}

export function logPartKey(runId: string, jobAttemptId: string, part: number): string {
  return part === 0 ? logArchiveKey(runId, jobAttemptId) : `${logArchiveKey(runId, jobAttemptId)}.${part}`;
}

export class LogArchive {
  constructor(
    private readonly sql: SqlStorage,
    private readonly bucket: R2Bucket,
  ) {}

  /** The parts holding bytes [0, archivedBytes), in order. */
  parts(jobAttemptId: string, archivedBytes: number): Part[] {
    const rows = this.sql
      .exec<{ part: number; start: number; end: number }>("SELECT part, start, end FROM log_parts WHERE job_attempt_id = ? ORDER BY part", jobAttemptId)
      .toArray();
    if (rows.length === 0 && archivedBytes > 0) return [{ part: 0, start: 0, end: archivedBytes }]; // archived whole, before parts
    return rows;
  }

  /**
   * Stores bytes [start, end) (`body`, exactly that long) as the next part. The part is recorded
   * only once R2 holds it; a pass that fails before writes the same part number again.
   */
  async append(runId: string, jobAttemptId: string, start: number, end: number, body: ReadableStream<Uint8Array>): Promise<void> {
    const parts = this.parts(jobAttemptId, start);
    const part = parts.length;
    await this.bucket.put(logPartKey(runId, jobAttemptId, part), body, { httpMetadata: { contentType: "text/plain; charset=utf-8" } });
    this.sql.exec("INSERT OR REPLACE INTO log_parts (job_attempt_id, part, start, end) VALUES (?, ?, ?, ?)", jobAttemptId, part, start, end);
  }

  /** Bytes [from, to) of the archive (within its `archivedBytes`), part by part. */
  async *read(runId: string, jobAttemptId: string, archivedBytes: number, from: number, to: number): AsyncGenerator<Uint8Array> {
    if (from >= to) return;
    for (const { part, start, end } of this.parts(jobAttemptId, archivedBytes)) {
      if (end <= from || start >= to) continue;
      const offset = Math.max(from, start) - start;
      const length = Math.min(to, end) - start - offset;
      const object = await this.bucket.get(logPartKey(runId, jobAttemptId, part), { range: { offset, length } });
      if (!object) throw new Error(`part ${part} of the log archive of ${jobAttemptId} is missing from R2`);
      const reader = object.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        yield value;
      }
    }
  }
}
