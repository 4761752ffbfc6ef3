/**
 * Live streams, wire protocol v1 (docs/live.md): `GET /api/v1/runs/:run/live` and
 * `GET /api/v1/queue/live`. Shared by the Durable Objects (which send), the worker, the
 * dashboard, the terminal follower and the tests (which receive). It imports types only: the
 * Node CLI loads it by stripping types, which erases them.
 *
 * Every frame is a JSON text frame. The server sends first a `snapshot` (or `resumed` when the
 * client gave `?since=`), then `events` frames; each event has a feed-wide sequence number and
 * every `events` frame ends at `seq` (resume with `?since=<that seq>`). The client acknowledges
 * with `{"type":"ack","seq":N}`: the server keeps at most `window` bytes unacknowledged per
 * socket and closes a socket that stays full for too long with TOO_SLOW.
 */

import type { QueueItem, TransitionEffect } from "./run-engine/effects.ts";
import type { State } from "./states.ts";

export type { State };

export const LIVE_PROTOCOL = 1;

/**
 * Protocol 2, asked for with `?protocol=2` on the run stream: every frame as in protocol 1, except
 * that an `events` frame carrying log bytes is a binary frame — a 4-byte big-endian length, that
 * many bytes of the frame's JSON (each log event with `length` instead of `data`), then the log
 * events' bytes raw, in their order (decodeServerFrame). No base64 on either side.
 */
export const LIVE_PROTOCOL_BINARY = 2;

/** The protocol a stream's `?protocol=` asks for (1 when absent or not one the server speaks). */
export function liveProtocolOf(param: string | null): number {
  return param === String(LIVE_PROTOCOL_BINARY) ? LIVE_PROTOCOL_BINARY : LIVE_PROTOCOL;
}

/** Close codes (4000–4999 are the application's). */
export const LIVE_CLOSE = {
  /** The server asks the client to reconnect now with `?since=<last seq>` (e.g. a read failed). */
  RECONNECT: 4000,
  /** The client did not acknowledge for too long while its window was full: reconnect with since. */
  TOO_SLOW: 4008,
  /** The client sent a frame the server does not understand: fix the client; do not just reconnect. */
  BAD_MESSAGE: 4400,
} as const;

/** Closes after which a client should not reconnect (normal closure, or its own bug). */
export function isFinalClose(code: number): boolean {
  return code === 1000 || code === LIVE_CLOSE.BAD_MESSAGE;
}

// ── run stream ─────────────────────────────────────────────────────────────────────────────

/** The run engine's transition as sent: `kind` for its `type`, `at` as ISO text, and what viewers also show. */
export interface LiveTransition extends Omit<TransitionEffect, "type" | "at"> {
  seq: number;
  kind: "transition";
  at: string;
  jobAttempt?: number;
  /** job_attempt: the agent's name once assigned. */
  agent?: string | null;
  /** step: its exit code once it ended. */
  exitCode?: number | null;
}

export interface LiveLog {
  seq: number;
  kind: "log";
  at: string;
  jobKey: string;
  jobAttemptId: string;
  runAttempt: number;
  jobAttempt: number;
  /** Byte offset of the first byte in the job attempt's log. */
  offset: number;
  /** The bytes exactly as the agent sent them (ANSI, any encoding), base64. */
  data: string;
}

/** A log event of protocol 2: its bytes as they came (decodeServerFrame), no base64. */
export interface LiveLogBytes extends Omit<LiveLog, "data"> {
  bytes: Uint8Array;
}

/** A log event's bytes, whichever protocol brought it. */
export function logBytesOf(event: LiveLog | LiveLogBytes): Uint8Array {
  return "bytes" in event ? event.bytes : base64ToBytes(event.data);
}

/** A running step reported metrics (appended to $YM_METRICS): all of the step's metrics so far. */
export interface LiveProgress {
  seq: number;
  kind: "progress";
  at: string;
  jobKey: string;
  jobAttemptId: string;
  runAttempt: number;
  jobAttempt: number;
  stepId: string;
  metrics: { name: string; kind: "counter" | "duration"; value: number }[];
}

/** A job not started began or stopped waiting for its concurrency group: `waitingOn` as it is now. */
export interface LiveWaiting {
  seq: number;
  kind: "waiting";
  at: string;
  jobKey: string;
  jobAttemptId: string;
  runAttempt: number;
  jobAttempt: number;
  /** `["concurrency: <group>"]` while it waits for the group; what it waits on next otherwise. */
  waitingOn: string[];
}

export type RunLiveEvent = LiveTransition | LiveLog | LiveProgress | LiveWaiting;

// ── queue stream ───────────────────────────────────────────────────────────────────────────

/** A queued job attempt as the run engine handed it to the dispatcher, and where it stands now. */
export interface LiveQueueEntry extends Omit<QueueItem, "queue"> {
  /** The queue the job waits in (the feed is one queue's). */
  queue: string;
  state: "queued" | "assigned";
  /** Sort key among queued entries: priority (higher first), then `order` (lower first). */
  order: number;
  agent: string | null;
  assignedAt: string | null;
}

export type QueueLiveEvent =
  | { seq: number; kind: "enqueued"; at: string; project: string; entry: LiveQueueEntry }
  | { seq: number; kind: "assigned"; at: string; project: string; jobAttemptId: string; agent: string; assignedAt: string }
  /** Back in the queue at its old place (its run could not be reached). */
  | { seq: number; kind: "requeued"; at: string; project: string; jobAttemptId: string }
  | { seq: number; kind: "reordered"; at: string; project: string; jobAttemptId: string; priority: number; order: number }
  | {
      seq: number;
      kind: "removed";
      at: string;
      project: string;
      jobAttemptId: string;
      /** cancelled while queued; finished (its job attempt ended); refused (its run declined the claim). */
      reason: "cancelled" | "finished" | "refused";
    };

export interface QueueSnapshot {
  /** Queued entries in claim order. */
  pending: LiveQueueEntry[];
  /** Assigned entries, oldest assignment first. */
  running: LiveQueueEntry[];
}

/**
 * The run snapshot is exactly `GET /api/v1/runs/:run` (domain/views.ts RunView); this is the part
 * of it a follower needs, spelled out here so this file needs no other module at run time.
 */
export interface RunSnapshot {
  id: string;
  number: number;
  project: string;
  pipeline: string;
  status: State;
  attempt: number;
  attempts: { number: number; status: State; jobs: { key: string; status: State }[] }[];
}

/**
 * Applies one queue event to a snapshot (a queue page's state), returning the new state:
 * pending stays in claim order (priority, then order), running in assignment order.
 */
export function applyQueueEvent(queue: QueueSnapshot, event: QueueLiveEvent): QueueSnapshot {
  const byClaimOrder = (a: LiveQueueEntry, b: LiveQueueEntry) => b.priority - a.priority || a.order - b.order;
  const all = [...queue.pending, ...queue.running];
  const found = "jobAttemptId" in event ? all.find((e) => e.jobAttemptId === event.jobAttemptId) : undefined;
  const others = all.filter((e) => e !== found);
  let next: LiveQueueEntry[] = all;
  if (event.kind === "enqueued") next = [...all.filter((e) => e.jobAttemptId !== event.entry.jobAttemptId), event.entry];
  else if (!found) return queue;
  else if (event.kind === "assigned") next = [...others, { ...found, state: "assigned", agent: event.agent, assignedAt: event.assignedAt }];
  else if (event.kind === "requeued") next = [...others, { ...found, state: "queued", agent: null, assignedAt: null }];
  else if (event.kind === "reordered") next = [...others, { ...found, priority: event.priority, order: event.order }];
  else if (event.kind === "removed") next = others;
  return {
    pending: next.filter((e) => e.state === "queued").sort(byClaimOrder),
    running: [...queue.running.filter((e) => next.includes(e)), ...next.filter((e) => e.state === "assigned" && !queue.running.includes(e))],
  };
}

// ── frames ─────────────────────────────────────────────────────────────────────────────────

export type ServerFrame<E> =
  | { type: "snapshot"; protocol: number; seq: number; window: number; run?: RunSnapshot; queue?: QueueSnapshot }
  | { type: "resumed"; protocol: number; seq: number; window: number }
  | { type: "events"; seq: number; events: E[] };

export type RunServerFrame = ServerFrame<RunLiveEvent>;
export type QueueServerFrame = ServerFrame<QueueLiveEvent>;

export interface AckFrame {
  type: "ack";
  seq: number;
}

/** Reads a client frame; null when it is not one the server understands. */
export function parseClientFrame(data: string | ArrayBuffer): AckFrame | null {
  if (typeof data !== "string" || data.length > 200) return null;
  try {
    const frame = JSON.parse(data) as { type?: unknown; seq?: unknown };
    if (frame.type === "ack" && Number.isSafeInteger(frame.seq) && (frame.seq as number) >= 0) return { type: "ack", seq: frame.seq as number };
  } catch {
    // not JSON
  }
  return null;
}

// ── events frames: JSON (protocol 1) or binary (protocol 2) ────────────────────────────────

/**
 * An `events` frame for a socket of `protocol`. `events` are the events' JSON texts; `data[i]`
 * holds the log bytes of a log event (whose JSON then ends without them), undefined for others.
 */
export function encodeEventsFrame(seq: number, events: readonly string[], data: readonly (Uint8Array | undefined)[], protocol: number): string | Uint8Array {
  const withField = (field: (bytes: Uint8Array) => string) =>
    events.map((event, i) => {
      const bytes = data[i];
      return bytes ? `${event.slice(0, -1)},${field(bytes)}}` : event;
    });
  const binary = protocol >= LIVE_PROTOCOL_BINARY && data.some((bytes) => bytes !== undefined);
  if (!binary) return `{"type":"events","seq":${seq},"events":[${withField((bytes) => `"data":"${bytesToBase64(bytes)}"`).join(",")}]}`;
  const header = new TextEncoder().encode(`{"type":"events","seq":${seq},"events":[${withField((bytes) => `"length":${bytes.byteLength}`).join(",")}]}`);
  let size = 4 + header.byteLength;
  for (const bytes of data) size += bytes?.byteLength ?? 0;
  const frame = new Uint8Array(size);
  new DataView(frame.buffer).setUint32(0, header.byteLength);
  frame.set(header, 4);
  let at = 4 + header.byteLength;
  for (const bytes of data) {
    if (!bytes) continue;
    frame.set(bytes, at);
    at += bytes.byteLength;
  }
  return frame;
}

/** A run stream's frame as a client receives it: JSON text, or protocol 2's binary `events` frame. */
export function decodeServerFrame(data: string | ArrayBuffer | Uint8Array): ServerFrame<RunLiveEvent | LiveLogBytes> {
  if (typeof data === "string") return JSON.parse(data) as ServerFrame<RunLiveEvent>;
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  const frame = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLength))) as ServerFrame<RunLiveEvent | LiveLogBytes>;
  let at = 4 + headerLength;
  if (frame.type !== "events") return frame;
  frame.events = frame.events.map((event) => {
    if (event.kind !== "log" || !("length" in event)) return event;
    const { length, ...rest } = event as Omit<LiveLog, "data"> & { length: number };
    const decoded: LiveLogBytes = { ...rest, bytes: bytes.slice(at, at + length) };
    at += length;
    return decoded;
  });
  return frame;
}

// ── base64 (log bytes on the wire) ─────────────────────────────────────────────────────────

type Base64Native = { toBase64?: () => string };
type Base64Ctor = { fromBase64?: (s: string) => Uint8Array };

export function bytesToBase64(bytes: Uint8Array): string {
  const native = (bytes as unknown as Base64Native).toBase64;
  if (typeof native === "function") return native.call(bytes);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function base64ToBytes(text: string): Uint8Array {
  const native = (Uint8Array as unknown as Base64Ctor).fromBase64;
  if (typeof native === "function") return native(text);
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// ── a resuming client (browser, Node, workerd) ─────────────────────────────────────────────

/** The part of a WebSocket the client uses (browsers', Node's global one, workerd's). */
export interface LiveSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  addEventListener(type: "close", listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: "error", listener: (event: unknown) => void): void;
}

export interface FollowOptions<E extends { seq: number }> {
  /** Opens a socket; `since` null asks for a snapshot. Throw to give up (e.g. 401, 404). */
  connect(since: number | null): Promise<LiveSocket>;
  /** Start from this seq without a snapshot (e.g. 0: every event from the beginning). */
  since?: number | null;
  onSnapshot?(frame: Extract<ServerFrame<E>, { type: "snapshot" }>): void;
  /** Each event exactly once, in order. Return true to stop following. */
  onEvent(event: E): boolean | void;
  /** A connection ended and the client will reconnect (for logging). */
  onReconnect?(info: { code: number; reason: string; since: number | null; attempt: number }): void;
  /** Acknowledge at most this often (ms) unless half the window is waiting (default 200). */
  ackEveryMs?: number;
  /**
   * Awaited before each acknowledgement: a consumer that falls behind (a terminal piped into a
   * slow reader) holds its acks, so the server pauses the stream instead of memory filling up.
   */
  backpressure?(): Promise<void> | undefined;
  /** Give up after this many reconnects in a row without receiving anything (default 20). */
  maxRetries?: number;
  signal?: AbortSignal;
}

/**
 * The outcome of following: `stopped` (onEvent returned true or the signal aborted) or `closed`
 * (a final close code). A refusal (`LiveRefused` from `connect`) is thrown instead.
 */
export interface FollowResult {
  /** The last seq received: resume from here. */
  seq: number | null;
  ended: "stopped" | "closed";
  code?: number;
  reason?: string;
}

/**
 * Follows a live stream: delivers every event once and in order, acknowledges as the server
 * asks, and reconnects with `?since=` (backing off) whenever the connection drops.
 */
export async function followLive<E extends { seq: number }>(options: FollowOptions<E>): Promise<FollowResult> {
  let seq: number | null = options.since ?? null;
  let failures = 0;
  const maxRetries = options.maxRetries ?? 20;
  for (;;) {
    if (options.signal?.aborted) return { seq, ended: "stopped" };
    const outcome = await followOnce(options, seq, (s) => {
      seq = s;
      failures = 0;
    });
    if (outcome.refused) throw outcome.refused;
    if (outcome.stopped) return { seq, ended: "stopped" };
    if (isFinalClose(outcome.code)) return { seq, ended: "closed", code: outcome.code, reason: outcome.reason };
    if (++failures > maxRetries) throw new Error(`live stream: gave up after ${maxRetries} reconnects (last close ${outcome.code} ${outcome.reason})`);
    options.onReconnect?.({ code: outcome.code, reason: outcome.reason, since: seq, attempt: failures });
    await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** (failures - 1))));
  }
}

function followOnce<E extends { seq: number }>(
  options: FollowOptions<E>,
  since: number | null,
  advance: (seq: number) => void,
): Promise<{ stopped: boolean; code: number; reason: string; refused?: LiveRefused }> {
  return new Promise((resolve) => {
    let settled = false;
    let socket: LiveSocket | null = null;
    let last = since;
    let window = 1 << 20;
    let unacked = 0;
    let ackTimer: ReturnType<typeof setTimeout> | null = null;
    /** An ack is scheduled or waits for back-pressure; it will carry the latest seq. */
    let ackPending = false;
    const finish = (result: { stopped: boolean; code: number; reason: string; refused?: LiveRefused }) => {
      if (settled) return;
      settled = true;
      if (ackTimer) clearTimeout(ackTimer);
      options.signal?.removeEventListener("abort", onAbort);
      if (result.stopped) socket?.close(1000, "done");
      resolve(result);
    };
    const onAbort = () => finish({ stopped: true, code: 1000, reason: "aborted" });
    options.signal?.addEventListener("abort", onAbort);
    const sendAck = () => {
      ackPending = false;
      unacked = 0;
      if (settled || last === null) return;
      try {
        socket?.send(JSON.stringify({ type: "ack", seq: last }));
      } catch {
        // closing: the close event follows
      }
    };
    const ack = () => {
      if (ackTimer) clearTimeout(ackTimer);
      ackTimer = null;
      const wait = options.backpressure?.();
      if (wait) void wait.then(sendAck);
      else sendAck();
    };
    const received = (bytes: number) => {
      unacked += bytes;
      if (ackPending && ackTimer === null) return; // waiting for back-pressure
      if (unacked >= window / 2) {
        ackPending = true;
        ack();
      } else if (ackTimer === null) {
        ackPending = true;
        ackTimer = setTimeout(ack, options.ackEveryMs ?? 200);
      }
    };
    options.connect(since).then(
      (ws) => {
        socket = ws;
        if (settled) return ws.close(1000, "done");
        ws.addEventListener("message", ({ data }) => {
          if (settled) return;
          // Text, or protocol 2's binary events frame (the socket's binaryType set to "arraybuffer").
          const binary = data instanceof ArrayBuffer || data instanceof Uint8Array;
          if (typeof data !== "string" && !binary) return;
          const frame = (binary ? decodeServerFrame(data) : JSON.parse(data)) as ServerFrame<E>;
          if (frame.type === "snapshot" || frame.type === "resumed") {
            window = frame.window;
            last = frame.seq;
            advance(frame.seq);
            if (frame.type === "snapshot") options.onSnapshot?.(frame);
          } else if (frame.type === "events") {
            for (const event of frame.events) {
              // A duplicate cannot happen by protocol; the guard makes it impossible by construction.
              if (last !== null && event.seq <= last) continue;
              last = event.seq;
              if (options.onEvent(event)) {
                advance(event.seq);
                return finish({ stopped: true, code: 1000, reason: "done" });
              }
            }
            last = Math.max(last ?? 0, frame.seq);
            advance(last);
          }
          received(binary ? data.byteLength : data.length);
        });
        ws.addEventListener("close", ({ code, reason }) => finish({ stopped: false, code, reason }));
        ws.addEventListener("error", () => finish({ stopped: false, code: 1006, reason: "connection error" }));
      },
      (error: unknown) => {
        if (error instanceof LiveRefused) return finish({ stopped: false, code: 1000, reason: error.message, refused: error });
        finish({ stopped: false, code: 1006, reason: String(error) });
      },
    );
  });
}

/** Thrown by a `connect` that must not be retried (the server refused: 400, 401, 403, 404). */
export class LiveRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LiveRefused";
  }
}
