/**
 * The job log uploader. Bytes go in (in arrival order, from every step), are masked, and are
 * sent as chunks `POST …/logs?seq=&offset=` (or protocol 2's report, the same seq/offset):
 *  - a chunk leaves when `flushBytes` (64 KiB) are pending, or `flushIntervalMs` (100 ms) after
 *    the oldest unsent byte arrived (a line on a viewer's screen within ~0.1 s, at most ten
 *    requests a second for a chatty step); a chunk is at most `maxChunkBytes`
 *    (limits.logChunkBytes), and up to `maxInFlight` chunks travel at once, so a backlog leaves
 *    at the link's speed rather than one round trip per chunk;
 *  - bytes are kept until the server acknowledges them (LogAck), so a lost answer is resent
 *    with the same seq/offset (stored once), and a 409 log_gap (a chunk that overtook the one
 *    before it, or a store that failed) resends from the server's offset once the chunks in
 *    flight have answered: nothing is lost, nothing is duplicated, the server stores in order;
 *  - the buffer is bounded: `write` returns false once `bufferLimit` bytes are held, and the
 *    producer (a child's stdout/stderr) pauses until `waitForDrain()` resolves;
 *  - `finishWith` hands the last chunk to a caller (protocol 2's finish carries it);
 *  - a tail the masker holds back (it could begin a secret) is let go, masked as far as it can
 *    be, once nothing new has come for `heldReleaseMs` (1 s): a silent step's last line reaches its
 *    viewers (a held "5\n" once hid a line for as long as the step waited). A secret printed in
 *    pieces more than a second apart is then masked only from the piece that completes it; masking
 *    guards against accidents, not against a step that means to leak (docs/security.md).
 */
import type { LogAck } from "../domain/protocol.ts";
import { isAbortError } from "./backoff.ts";
import { LogGapError } from "./protocol-client.ts";
import { Masker } from "./masker.ts";

/** Sends one chunk; throws LogGapError on 409 log_gap; retries transient failures itself. */
export type LogSink = (seq: number, offset: number, bytes: Buffer, signal: AbortSignal) => Promise<LogAck>;

/** The log's last bytes, for a call that carries them (none when everything was acknowledged). */
export interface LogTail {
  seq: number;
  offset: number;
  bytes: Buffer;
}

export interface LogStreamerOptions {
  sink: LogSink;
  mask?: readonly string[];
  flushIntervalMs?: number;
  flushBytes?: number;
  /** A tail held back by the masker is let go after this long without new bytes. */
  heldReleaseMs?: number;
  maxChunkBytes?: number;
  bufferLimit?: number;
  /** Chunks sent before the first is answered (1: one at a time). */
  maxInFlight?: number;
  /** Called once when the log cannot be delivered any more (e.g. the job was refused). */
  onFatal?: (err: unknown) => void;
}

export const LOG_DEFAULTS = {
  flushIntervalMs: 100,
  flushBytes: 64 * 1024,
  heldReleaseMs: 1000,
  maxChunkBytes: 1024 * 1024,
  bufferLimit: 8 * 1024 * 1024,
  maxInFlight: 4,
} as const;

export class LogStreamer {
  private readonly sink: LogSink;
  private readonly masker: Masker;
  private readonly flushIntervalMs: number;
  private readonly flushBytes: number;
  private readonly maxChunkBytes: number;
  private readonly maxInFlight: number;
  readonly bufferLimit: number;
  private readonly onFatal: ((err: unknown) => void) | undefined;

  /** Unacknowledged bytes, starting at byte offset `baseOffset` of the job log. */
  private queue: Buffer[] = [];
  private queued = 0;
  private baseOffset = 0;
  /** The server's next seq, as it last said. */
  private seq = 0;
  /** Bytes before this offset were sent (and are acknowledged or in flight); the next chunk's seq. */
  private sentEnd = 0;
  private nextSeq = 0;
  private inFlight = 0;
  /** Answers received so far: an answer older than another tells nothing new. */
  private answers = 0;
  /** The server holds less than was sent: once the chunks in flight answer, send again from its offset. */
  private rewinding = false;
  /** `finishWith` keeps the last chunk (≤ maxChunkBytes) for its own call. */
  private holdingLast = false;
  /** When the oldest byte not yet sent arrived (0 = none waiting). */
  private waitingSince = 0;
  private timer: NodeJS.Timeout | undefined;
  private releaseTimer: NodeJS.Timeout | undefined;
  private readonly heldReleaseMs: number;
  private closing = false;
  private stopped = false;
  private fatalError: unknown;
  private lastByte = 0x0a;
  private readonly controller = new AbortController();
  private drainWaiters: (() => void)[] = [];
  private idleWaiters: (() => boolean)[] = [];
  /** Total bytes accepted (after masking): the log's length so far. */
  private written = 0;

  constructor(options: LogStreamerOptions) {
    this.sink = options.sink;
    this.masker = new Masker(options.mask ?? []);
    this.flushIntervalMs = options.flushIntervalMs ?? LOG_DEFAULTS.flushIntervalMs;
    this.heldReleaseMs = options.heldReleaseMs ?? LOG_DEFAULTS.heldReleaseMs;
    this.maxChunkBytes = Math.max(1, options.maxChunkBytes ?? LOG_DEFAULTS.maxChunkBytes);
    this.flushBytes = Math.min(options.flushBytes ?? LOG_DEFAULTS.flushBytes, this.maxChunkBytes);
    this.bufferLimit = Math.max(options.bufferLimit ?? LOG_DEFAULTS.bufferLimit, this.maxChunkBytes);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? LOG_DEFAULTS.maxInFlight);
    this.onFatal = options.onFatal;
  }

  /** Bytes held in memory: unacknowledged plus those the masker holds back. */
  get bufferedBytes(): number {
    return this.queued + this.masker.heldBytes;
  }

  /** Offset up to which the server has acknowledged the log. */
  get acknowledgedOffset(): number {
    return this.baseOffset;
  }

  get length(): number {
    return this.written;
  }

  get failed(): unknown {
    return this.fatalError;
  }

  /** Whether the last byte accepted was a newline (or nothing was written yet). */
  get atLineStart(): boolean {
    return this.lastByte === 0x0a;
  }

  /**
   * Accepts bytes (never drops them while the log is alive). Returns false when the buffer is
   * full: the caller should pause its source until `waitForDrain()` resolves.
   */
  write(data: Buffer | string): boolean {
    // A dead or closed log swallows (e.g. the last bytes of a killed background process):
    // never block or break a producer.
    if (this.stopped || this.closing) return true;
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    if (bytes.length === 0) return this.hasRoom();
    this.lastByte = bytes[bytes.length - 1]!;
    this.enqueue(this.masker.push(bytes));
    this.releaseHeldLater();
    return this.hasRoom();
  }

  /** (Re)starts the quiet-period timer that lets a held tail go (see the file's comment). */
  private releaseHeldLater(): void {
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseTimer = undefined;
    if (this.masker.heldBytes === 0) return;
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = undefined;
      if (!this.stopped && !this.closing) this.enqueue(this.masker.end());
    }, this.heldReleaseMs);
    this.releaseTimer.unref?.();
  }

  /** Writes a line of the agent's own (e.g. a step header), on a line of its own. */
  writeLine(text: string): void {
    const prefix = this.atLineStart ? "" : "\n";
    this.write(`${prefix}${text}\n`);
  }

  hasRoom(): boolean {
    return this.stopped || this.bufferedBytes < this.bufferLimit;
  }

  /** Resolves once there is room in the buffer again (at once if there is). */
  waitForDrain(): Promise<void> {
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Flushes the masker's held tail and waits until every byte is acknowledged. */
  async close(): Promise<void> {
    this.endInput();
    await this.until(() => this.queued === 0);
    if (this.fatalError !== undefined) throw this.fatalError;
  }

  /**
   * Like `close`, but the last chunk (what is left once the rest is acknowledged, at most
   * maxChunkBytes) goes with `last`, which sends it (none when nothing is left, or the log can
   * no longer be sent) and answers the server's LogAck, or throws LogGapError.
   */
  async finishWith(last: (tail: LogTail | undefined) => Promise<LogAck | undefined>): Promise<void> {
    this.holdingLast = true;
    this.endInput();
    for (;;) {
      await this.until(() => this.inFlight === 0 && this.unsent() <= this.maxChunkBytes);
      if (this.stopped) {
        await last(undefined);
        return;
      }
      const bytes = this.unsent() > 0 ? this.slice(this.sentEnd - this.baseOffset, this.unsent()) : undefined;
      const tail = bytes ? { seq: this.nextSeq, offset: this.sentEnd, bytes } : undefined;
      let ack: LogAck | undefined;
      this.inFlight += 1;
      try {
        ack = await last(tail);
      } catch (err) {
        if (!(err instanceof LogGapError)) throw err;
        ack = err.ack;
      } finally {
        this.inFlight -= 1;
      }
      if (!ack || !tail) return;
      this.acknowledge(ack, true);
      if (this.queued === 0) return;
      this.restart();
    }
  }

  /** Stops at once: no more sending, pending bytes dropped, producers unblocked. */
  abort(reason?: unknown): void {
    this.stop(reason);
  }

  private endInput(): void {
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    if (!this.closing && !this.stopped) {
      this.enqueue(this.masker.end());
      this.closing = true;
    }
    this.launch();
  }

  private enqueue(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.queue.push(bytes);
    this.queued += bytes.length;
    this.written += bytes.length;
    if (this.waitingSince === 0) this.waitingSince = Date.now();
    this.launch();
  }

  /** Bytes not yet sent. */
  private unsent(): number {
    return this.baseOffset + this.queued - this.sentEnd;
  }

  /** Sends every chunk that is due, up to maxInFlight at once; else waits for the timer. */
  private launch(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (!this.stopped && !this.rewinding && this.inFlight < this.maxInFlight) {
      const unsent = this.unsent();
      if (unsent <= 0 || (this.holdingLast && unsent <= this.maxChunkBytes)) break;
      const dueByTime = this.waitingSince !== 0 && Date.now() - this.waitingSince >= this.flushIntervalMs;
      if (!(this.closing || dueByTime || unsent >= this.flushBytes)) {
        const wait = Math.max(0, this.waitingSince + this.flushIntervalMs - Date.now());
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.launch();
        }, wait);
        break;
      }
      const length = Math.min(unsent, this.maxChunkBytes);
      const chunk = this.slice(this.sentEnd - this.baseOffset, length);
      const seq = this.nextSeq;
      const offset = this.sentEnd;
      this.nextSeq += 1;
      this.sentEnd += length;
      // Bytes that arrive from now on wait for the next chunk.
      if (unsent === length) this.waitingSince = 0;
      this.inFlight += 1;
      void this.sendOne(seq, offset, chunk);
    }
    this.settle();
  }

  private async sendOne(seq: number, offset: number, chunk: Buffer): Promise<void> {
    const answersBefore = this.answers;
    let ack: LogAck;
    try {
      ack = await this.sink(seq, offset, chunk, this.controller.signal);
    } catch (err) {
      if (err instanceof LogGapError) ack = err.ack;
      else {
        this.inFlight -= 1;
        this.fail(err);
        return;
      }
    } finally {
      this.answers += 1;
    }
    this.inFlight -= 1;
    if (this.stopped) return;
    try {
      // Only an answer nothing else overtook can prove the server went back on an acknowledgement.
      this.acknowledge(ack, this.answers === answersBefore + 1 && this.inFlight === 0);
    } catch (err) {
      this.fail(err);
      return;
    }
    // The server holds less than this chunk's end: send again from its offset once the others answer.
    if (ack.nextOffset < offset + chunk.length) this.rewinding = true;
    if (this.rewinding && this.inFlight === 0) this.restart();
    this.launch();
  }

  /** After a gap: the next chunk starts where the server's log ends, and is overdue. */
  private restart(): void {
    this.rewinding = false;
    this.sentEnd = this.baseOffset;
    this.nextSeq = this.seq;
    if (this.queued > 0) this.waitingSince = 1;
  }

  /**
   * Applies the server's view: it holds everything before ack.nextOffset. An answer older than
   * what is acknowledged already (overtaken by another) is ignored, unless `strict`: nothing
   * overtook it, so the server went back on its word — a bug, not something to resend for ever.
   */
  private acknowledge(ack: LogAck, strict: boolean): void {
    const end = this.baseOffset + this.queued;
    if (ack.nextOffset > end || (strict && ack.nextOffset < this.baseOffset)) {
      throw new Error(`the server's log position (offset ${ack.nextOffset}) is outside the unacknowledged range ${this.baseOffset}–${end}`);
    }
    if (ack.nextOffset <= this.baseOffset) {
      if (ack.nextOffset === this.baseOffset) this.seq = Math.max(this.seq, ack.nextSeq);
      return;
    }
    this.drop(ack.nextOffset - this.baseOffset);
    this.seq = ack.nextSeq;
    if (this.sentEnd < this.baseOffset) {
      this.sentEnd = this.baseOffset;
      this.nextSeq = this.seq;
    }
    if (this.hasRoom()) this.settleDrain();
  }

  /** n queued bytes from position `from` of the queue, as one buffer (not removed). */
  private slice(from: number, n: number): Buffer {
    const parts: Buffer[] = [];
    let skip = from;
    let left = n;
    for (const b of this.queue) {
      if (left <= 0) break;
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      const take = Math.min(left, b.length - skip);
      parts.push(b.subarray(skip, skip + take));
      skip = 0;
      left -= take;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  private drop(n: number): void {
    this.baseOffset += n;
    this.queued -= n;
    while (n > 0) {
      const first = this.queue[0]!;
      if (first.length <= n) {
        this.queue.shift();
        n -= first.length;
      } else {
        this.queue[0] = first.subarray(n);
        n = 0;
      }
    }
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    if (!isAbortError(err)) this.fatalError = err;
    this.stop(err);
    if (!isAbortError(err)) this.onFatal?.(err);
  }

  private stop(reason?: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.controller.abort(reason);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.queue = [];
    this.queued = 0;
    this.settleDrain();
    this.settle();
  }

  /** Resolves when `done()` holds (checked after every change), or the log stopped. */
  private until(done: () => boolean): Promise<void> {
    if (this.stopped || done()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(() => {
      if (!this.stopped && !done()) return false;
      resolve();
      return true;
    }));
  }

  private settleDrain(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private settle(): void {
    this.idleWaiters = this.idleWaiters.filter((w) => !w());
  }
}
