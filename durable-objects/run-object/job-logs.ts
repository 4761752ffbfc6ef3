/** A run's job logs as the RunObject uses them: append, archive to R2, read back whole or by byte range. */
import type { JobAttemptState, RunState } from "../../domain/run-engine/index.ts";
import type { LogAck } from "../../domain/protocol.ts";
import type { Env } from "../../platform/env.ts";
import { fail, ok, type Result } from "../../platform/result.ts";
import { MAX_LOG_CHUNK_BYTES } from "../../domain/limits.ts";
import { LogArchive } from "./log-archive.ts";
import { fixedLengthStream, LogStore } from "./log-store.ts";
import { expiredAt } from "./removal.ts";

/** Bytes [from, to) of a log of `size` bytes so far. */
export interface LogRead {
  size: number;
  from: number;
  to: number;
  body: ReadableStream<Uint8Array>;
}

export class JobLogs {
  readonly store: LogStore;
  private readonly archives: LogArchive;

  constructor(
    private readonly sql: SqlStorage,
    env: Env,
    /** Late chunks are taken this long after the job attempt ends (RunObject.authorize). */
    private readonly lateGraceMs: number,
  ) {
    this.store = new LogStore(sql);
    this.archives = new LogArchive(sql, env.ARTIFACTS);
  }

  /** Stores a chunk; `stored` is false for a resend of a chunk already held, and for refusals. */
  append(jobAttemptId: string, seq: number, offset: number, data: Uint8Array, now: number, ended: boolean): { result: Result<LogAck>; stored: boolean } {
    if (data.byteLength > MAX_LOG_CHUNK_BYTES) {
      return {
        result: fail(413, "log_chunk_too_large", `a log chunk may be at most ${MAX_LOG_CHUNK_BYTES} bytes; send smaller chunks`),
        stored: false,
      };
    }
    const outcome = this.store.append(jobAttemptId, seq, offset, data, now, ended);
    const ack: LogAck = { nextSeq: outcome.head.nextSeq, nextOffset: outcome.head.nextOffset };
    if (outcome.kind === "gap") {
      return { result: fail(409, "log_gap", `expected chunk ${ack.nextSeq} at byte ${ack.nextOffset}; resend from there`, ack), stored: false };
    }
    return { result: ok(ack), stored: outcome.kind === "stored" };
  }

  /**
   * The log's last part is archived when no late chunk can come any more: chunks are held here
   * until the grace has run out, then appended to the R2 archive (./log-archive.ts).
   */
  jobAttemptEnded(jobAttemptId: string, now: number): void {
    this.store.scheduleArchive(jobAttemptId, now + this.lateGraceMs);
  }

  nextArchiveAt(now: number): number | null {
    const { due, next } = this.store.dueArchives(now);
    return due.length > 0 ? now : next;
  }

  /** Archives every log whose time has come. A failure leaves it due; the alarm tries again. */
  async archiveDue(runId: string | undefined, now: number): Promise<void> {
    if (!runId) return;
    for (const jobAttemptId of this.store.dueArchives(now).due) {
      try {
        await this.archive(runId, jobAttemptId);
      } catch (error) {
        console.warn(`run ${runId}: archiving the log of ${jobAttemptId} failed, will retry: ${String(error)}`);
        this.store.scheduleArchive(jobAttemptId, Date.now() + 5_000);
      }
    }
  }

  private async archive(runId: string, jobAttemptId: string): Promise<void> {
    const head = this.store.head(jobAttemptId);
    const length = head.nextOffset;
    // Only what is not archived yet: a new part (an empty log still gets its one, empty, part).
    if (length > head.archivedBytes || head.archivedBytes === 0) {
      const from = head.archivedBytes;
      await this.archives.append(runId, jobAttemptId, from, length, fixedLengthStream(this.bytes(runId, jobAttemptId, from, length), length - from));
    }
    this.store.archived(jobAttemptId, length);
  }

  /**
   * Bytes [start, length) of a job attempt's log: what the R2 archive holds, then the chunks still
   * held here. An archive may complete (and drop the chunks) while a read is under way, so the
   * reader tracks its position and, whenever the chunks it needs are gone, takes them from the
   * archive instead: a read never ends short.
   */
  private async *bytes(runId: string, jobAttemptId: string, start: number, length: number): AsyncGenerator<Uint8Array> {
    let position = start;
    while (position < length) {
      const archived = Math.min(this.store.head(jobAttemptId).archivedBytes, length);
      if (archived > position) {
        yield* this.fromArchive(runId, jobAttemptId, position, archived);
        position = archived;
        continue;
      }
      const rows = this.store.page(jobAttemptId, position);
      if (rows.length === 0 || rows[0]!.offset > position) {
        if (this.store.head(jobAttemptId).archivedBytes > position) continue; // archived meanwhile
        throw new Error(`bytes ${position}–${length} of the log of ${jobAttemptId} are neither held nor archived`);
      }
      for (const row of rows) {
        if (row.offset > position || position >= length) break;
        const slice = row.data.subarray(position - row.offset, Math.min(row.data.byteLength, length - row.offset));
        yield slice;
        position += slice.byteLength;
      }
    }
  }

  private async *fromArchive(runId: string, jobAttemptId: string, from: number, to: number): AsyncGenerator<Uint8Array> {
    yield* this.archives.read(runId, jobAttemptId, this.store.head(jobAttemptId).archivedBytes, from, to);
  }

  /**
   * The log whole, or a byte range of it (`range`: the first byte, and the byte after the last or
   * none for "to the end"). `size` is the whole log's size so far; a range that starts at or
   * past it is refused (416), one that ends past it is cut there.
   */
  read(runId: string, jobAttemptId: string, range?: { from: number; to?: number }): Result<LogRead> {
    const size = this.store.head(jobAttemptId).nextOffset;
    const from = range?.from ?? 0;
    const to = Math.min(range?.to ?? size, size);
    if (range && from >= size) {
      return fail(416, "range_not_satisfiable", `the log has ${size} bytes so far; ask for a range that starts before byte ${size}`);
    }
    return ok({ size, from, to, body: fixedLengthStream(this.bytes(runId, jobAttemptId, from, to), to - from) });
  }

  /** A person reads a job's log (by job key; attempts default to the latest): 410 once retention removed it. */
  readJob(state: RunState, jobKey: string, jobAttemptNumber?: number, runAttemptNumber?: number, range?: { from: number; to?: number }): Result<LogRead> {
    if (expiredAt(this.sql, "logs") !== null) return fail(410, "expired", "this run's logs were removed by the project's retention");
    const jobAttempt = jobAttemptOfLog(state, jobKey, jobAttemptNumber, runAttemptNumber);
    return jobAttempt.ok ? this.read(state.run.id, jobAttempt.value.id, range) : jobAttempt;
  }
}

/** The job attempt whose log is asked for: by job key, attempt numbers defaulting to the latest. */
export function jobAttemptOfLog(state: RunState, jobKey: string, jobAttemptNumber?: number, runAttemptNumber?: number): Result<JobAttemptState> {
  const runAttempt = state.attempts[(runAttemptNumber ?? state.attempts.length) - 1];
  if (!runAttempt) return fail(404, "attempt_not_found", `run #${state.run.number} has no attempt ${runAttemptNumber}`);
  const job = runAttempt.jobs.find((j) => j.key === jobKey);
  if (!job) return fail(404, "job_not_found", `run #${state.run.number} has no job ${jobKey}`);
  const jobAttempt = jobAttemptNumber === undefined ? job.attempts[job.attempts.length - 1] : job.attempts[jobAttemptNumber - 1];
  if (!jobAttempt) {
    return fail(404, "job_attempt_not_found", `job ${jobKey} has no attempt ${jobAttemptNumber ?? ""} in run attempt ${runAttempt.number}`.trim());
  }
  return ok(jobAttempt);
}
