/** A run's job logs as the RunObject uses them: append, archive to R2, read back whole. */
import type { LogAck } from "../../domain/protocol";
import type { Env } from "../../worker/env";
import { fail, ok, type Result } from "../result";
import { ARCHIVE_DELAY_MS, fixedLengthStream, logArchiveKey, LogStore, MAX_LOG_CHUNK_BYTES } from "./log-store";

export class JobLogs {
  readonly store: LogStore;

  constructor(
    sql: SqlStorage,
    private readonly env: Env,
  ) {
    this.store = new LogStore(sql);
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

  jobAttemptEnded(jobAttemptId: string, now: number): void {
    this.store.scheduleArchive(jobAttemptId, now + ARCHIVE_DELAY_MS);
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
    if (length > head.archivedBytes || head.archivedBytes === 0) {
      const body = fixedLengthStream(this.bytes(runId, jobAttemptId, head.archivedBytes, length), length);
      await this.env.ARTIFACTS.put(logArchiveKey(runId, jobAttemptId), body, {
        httpMetadata: { contentType: "text/plain; charset=utf-8" },
      });
    }
    this.store.archived(jobAttemptId, length);
  }

  /** Bytes [0, length): the archived part from R2, then the chunks still held here. */
  private async *bytes(runId: string, jobAttemptId: string, archivedBytes: number, length: number): AsyncGenerator<Uint8Array> {
    if (archivedBytes > 0) {
      const archived = await this.env.ARTIFACTS.get(logArchiveKey(runId, jobAttemptId), { range: { offset: 0, length: archivedBytes } });
      if (!archived) throw new Error(`the log archive of ${jobAttemptId} is missing from R2`);
      const reader = archived.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        yield value;
      }
    }
    yield* this.store.chunks(jobAttemptId, archivedBytes, length);
  }

  async read(runId: string, jobAttemptId: string): Promise<{ length: number; body: ReadableStream<Uint8Array> }> {
    const head = this.store.head(jobAttemptId);
    const length = head.nextOffset;
    return { length, body: fixedLengthStream(this.bytes(runId, jobAttemptId, head.archivedBytes, length), length) };
  }
}
