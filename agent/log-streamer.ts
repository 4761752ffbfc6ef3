/**
 * The job log uploader. Bytes go in (in arrival order, from every step), are masked, and are
 * sent as chunks `POST …/logs?seq=&offset=`:
 *  - a chunk leaves when `flushBytes` (64 KiB) are pending, or `flushIntervalMs` (100 ms) after
 *    the oldest unsent byte arrived (a line on a viewer's screen within ~0.1 s, at most ten
 *    requests a second for a chatty step); one chunk is in flight at a time and is at most
 *    `maxChunkBytes` (limits.logChunkBytes), so a backlog leaves in large chunks;
 *  - bytes are kept until the server acknowledges them (LogAck), so a lost answer is resent
 *    with the same seq/offset (stored once), and a 409 log_gap resends from the server's
 *    offset: nothing is lost, nothing is duplicated;
 *  - the buffer is bounded: `write` returns false once `bufferLimit` bytes are held, and the
 *    producer (a child's stdout/stderr) pauses until `waitForDrain()` resolves.
 */
import type { LogAck } from "../domain/protocol.ts";
import { isAbortError } from "./backoff.ts";
import { LogGapError } from "./protocol-client.ts";
import { Masker } from "./masker.ts";

/** Sends one chunk; throws LogGapError on 409 log_gap; retries transient failures itself. */
export type LogSink = (seq: number, offset: number, bytes: Buffer, signal: AbortSignal) => Promise<LogAck>;

export interface LogStreamerOptions {
  sink: LogSink;
  mask?: readonly string[];
  flushIntervalMs?: number;
  flushBytes?: number;
  maxChunkBytes?: number;
  bufferLimit?: number;
  /** Called once when the log cannot be delivered any more (e.g. the job was refused). */
  onFatal?: (err: unknown) => void;
}

export const LOG_DEFAULTS = {
  flushIntervalMs: 100,
  flushBytes: 64 * 1024,
  maxChunkBytes: 1024 * 1024,
  bufferLimit: 8 * 1024 * 1024,
} as const;

export class LogStreamer {
  private readonly sink: LogSink;
  private readonly masker: Masker;
  private readonly flushIntervalMs: number;
  private readonly flushBytes: number;
  private readonly maxChunkBytes: number;
  readonly bufferLimit: number;
  private readonly onFatal: ((err: unknown) => void) | undefined;

  /** Unacknowledged bytes, starting at byte offset `baseOffset` of the job log. */
  private queue: Buffer[] = [];
  private queued = 0;
  private baseOffset = 0;
  private seq = 0;
  /** Bytes of the queue's head already sent in the request in flight. */
  private inFlight = 0;
  /** When the oldest byte not yet sent arrived (0 = none waiting). */
  private waitingSince = 0;
  private timer: NodeJS.Timeout | undefined;
  private sending = false;
  private closing = false;
  private stopped = false;
  private fatalError: unknown;
  private lastByte = 0x0a;
  private readonly controller = new AbortController();
  private drainWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  /** Total bytes accepted (after masking): the log's length so far. */
  private written = 0;

  constructor(options: LogStreamerOptions) {
    this.sink = options.sink;
    this.masker = new Masker(options.mask ?? []);
    this.flushIntervalMs = options.flushIntervalMs ?? LOG_DEFAULTS.flushIntervalMs;
    this.maxChunkBytes = Math.max(1, options.maxChunkBytes ?? LOG_DEFAULTS.maxChunkBytes);
    this.flushBytes = Math.min(options.flushBytes ?? LOG_DEFAULTS.flushBytes, this.maxChunkBytes);
    this.bufferLimit = Math.max(options.bufferLimit ?? LOG_DEFAULTS.bufferLimit, this.maxChunkBytes);
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
    return this.hasRoom();
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
    if (!this.closing && !this.stopped) {
      this.enqueue(this.masker.end());
      this.closing = true;
    }
    this.kick();
    if (this.queued > 0 && !this.stopped) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    if (this.fatalError !== undefined) throw this.fatalError;
  }

  /** Stops at once: no more sending, pending bytes dropped, producers unblocked. */
  abort(reason?: unknown): void {
    this.stop(reason);
  }

  private enqueue(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.queue.push(bytes);
    this.queued += bytes.length;
    this.written += bytes.length;
    if (this.waitingSince === 0) this.waitingSince = Date.now();
    this.schedule();
  }

  private unsent(): number {
    return this.queued - this.inFlight;
  }

  private schedule(): void {
    if (this.sending || this.stopped) return;
    const unsent = this.unsent();
    if (unsent <= 0) return;
    if (unsent >= this.flushBytes || this.closing) {
      this.kick();
      return;
    }
    if (this.timer) return;
    const wait = Math.max(0, this.waitingSince + this.flushIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, wait);
  }

  private kick(): void {
    if (this.sending || this.stopped) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.queued === 0) {
      this.settleIdle();
      return;
    }
    this.sending = true;
    void this.sendLoop();
  }

  /** Sends chunks until nothing is due, one at a time. */
  private async sendLoop(): Promise<void> {
    try {
      while (!this.stopped && this.queued > 0) {
        const dueByTime = this.waitingSince !== 0 && Date.now() - this.waitingSince >= this.flushIntervalMs;
        if (!(this.closing || dueByTime || this.queued >= this.flushBytes)) break;
        const chunk = this.head(Math.min(this.queued, this.maxChunkBytes));
        this.inFlight = chunk.length;
        // Bytes that arrive from now on wait for the next chunk.
        this.waitingSince = this.queued > chunk.length ? this.waitingSince : 0;
        let ack: LogAck;
        try {
          ack = await this.sink(this.seq, this.baseOffset, chunk, this.controller.signal);
        } catch (err) {
          if (err instanceof LogGapError) ack = err.ack;
          else throw err;
        }
        this.inFlight = 0;
        const chunkEnd = this.baseOffset + chunk.length;
        this.acknowledge(ack);
        // The server holds less than we sent (a gap, or it took part of the chunk): the rest
        // of that chunk is overdue, send it at once.
        if (this.baseOffset < chunkEnd) this.waitingSince = 1;
      }
    } catch (err) {
      this.inFlight = 0;
      if (!this.stopped) {
        if (!isAbortError(err)) this.fatalError = err;
        this.stop(err);
        if (!isAbortError(err)) this.onFatal?.(err);
      }
      return;
    } finally {
      this.sending = false;
    }
    if (this.queued === 0) this.settleIdle();
    else this.schedule();
  }

  /** Applies the server's view: it holds everything before ack.nextOffset. */
  private acknowledge(ack: LogAck): void {
    const end = this.baseOffset + this.queued;
    if (ack.nextOffset < this.baseOffset || ack.nextOffset > end) {
      throw new Error(
        `the server's log position (offset ${ack.nextOffset}) is outside the unacknowledged range ${this.baseOffset}–${end}`,
      );
    }
    this.drop(ack.nextOffset - this.baseOffset);
    this.seq = ack.nextSeq;
    if (this.hasRoom()) this.settleDrain();
  }

  /** The first n queued bytes, as one buffer (not removed). */
  private head(n: number): Buffer {
    const first = this.queue[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const parts: Buffer[] = [];
    let left = n;
    for (const b of this.queue) {
      if (left <= 0) break;
      const take = Math.min(left, b.length);
      parts.push(take === b.length ? b : b.subarray(0, take));
      left -= take;
    }
    return Buffer.concat(parts, n);
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

  private stop(reason?: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.controller.abort(reason);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
    this.queued = 0;
    this.settleDrain();
    this.settleIdle();
  }

  private settleDrain(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private settleIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
