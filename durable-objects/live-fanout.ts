/**
 * Fan-out of a Durable Object's live feed to its WebSockets (Hibernation API), shared by the
 * RunObject and the DispatcherObject. The feed itself lives in the object's SQLite (a
 * FeedSource); a socket is only a cursor into it. Delivery is pull-based: when the feed grows,
 * a flush (after `batchMs`, so many events become one frame) reads the events after each
 * socket's cursor and sends them. Sockets at the same cursor with the same filter share one
 * read and one frame, so hundreds of viewers cost one query per frame.
 *
 * Back-pressure: Workers' WebSockets expose no bufferedAmount, so clients acknowledge
 * (`{"type":"ack","seq":N}`). A socket gets nothing more while `windowBytes` are unacknowledged;
 * its backlog stays in SQLite, not in memory. A socket still full after `stallMs` is closed
 * with TOO_SLOW and told to reconnect with `since`. Memory is bounded by sockets × window.
 *
 * Restarts: each socket's cursor and filter are in its attachment (serialized after every
 * send), so after hibernation or eviction the object rebuilds everything from getWebSockets()
 * and its storage. Only the in-flight accounting lives in memory; losing it forgives one window.
 */
import { encodeEventsFrame, LIVE_CLOSE, LIVE_PROTOCOL, parseClientFrame } from "../domain/live.ts";
import { SerialFlush } from "./serial-flush.ts";

export interface FeedPage {
  /** Each event as its JSON text (with its `seq`); a log event's without its bytes, which are in `data`. */
  events: string[];
  /** The log bytes of `events[i]` when it is a log event (encodeEventsFrame puts them in the frame). */
  data?: (Uint8Array | undefined)[];
  /** The feed position this page reaches (≥ the last event's seq; a filtered read may skip ahead). */
  through: number;
}

export interface FeedSource<F> {
  /** The last seq in the feed (0 when empty). */
  head(): number;
  /** Events after `after` that pass `filter`, about `maxBytes` of them (at least one). */
  read(after: number, filter: F, maxBytes: number): FeedPage | Promise<FeedPage>;
}

export interface FanoutOptions {
  /** Unacknowledged bytes a socket may have before it is paused. */
  windowBytes: number;
  /** Target size of one frame (a single larger event is sent whole). */
  frameBytes: number;
  /** How long events gather before a flush. */
  batchMs: number;
  /** How long a paused socket may go without acknowledging before it is dropped. */
  stallMs: number;
}

export const DEFAULT_FANOUT: FanoutOptions = { windowBytes: 512 * 1024, frameBytes: 128 * 1024, batchMs: 25, stallMs: 10_000 };

/** The defaults, with the stall time from `YM_LIVE_STALL_SECONDS` when set. */
export function fanoutOptionsFrom(env: { YM_LIVE_STALL_SECONDS?: string }): FanoutOptions {
  const seconds = Number(env.YM_LIVE_STALL_SECONDS);
  const valid = env.YM_LIVE_STALL_SECONDS !== undefined && Number.isFinite(seconds) && seconds > 0;
  return { ...DEFAULT_FANOUT, stallMs: valid ? seconds * 1000 : DEFAULT_FANOUT.stallMs };
}

/** Frames a socket may have unacknowledged, whatever their size (keeps the bookkeeping small). */
const MAX_INFLIGHT_FRAMES = 256;
/** Rounds of reads per flush before yielding to other events (acks, appends). */
const ROUNDS_PER_FLUSH = 16;
/**
 * Ingest first. The object has one thread for taking a log in and for sending it to every viewer,
 * and 50 viewers of a log printed flat out cost it several times the ingest itself (issue 20,
 * bench/improvements.md §10.1). While the feed grows faster than this (bytes in the last second,
 * as `notify` reports them), a flush is one round at most every HOT_GAP_MS: each viewer still
 * gets a frame that often, and the rest of its backlog waits in storage — in order, nothing lost —
 * until the burst ends and it catches up at full speed. A log a person can read as it scrolls (the
 * 128 KiB/s of the lag benchmark) never comes near it.
 */
const HOT_BYTES_PER_SECOND = 1024 * 1024;
const HOT_GAP_MS = 500;

interface Attachment<F> {
  id: string;
  cursor: number;
  filter: F;
  /** The wire protocol the client asked for (domain/live.ts; absent: 1). */
  protocol?: number;
  /** Set when the server closed the socket: it may still be listed while the close completes. */
  closed?: true;
}

interface Viewer<F> extends Attachment<F> {
  filterKey: string;
  inflight: { through: number; bytes: number }[];
  inflightBytes: number;
  blockedSince: number | null;
}

export class LiveFanout<F> {
  private readonly viewers = new Map<string, Viewer<F>>();
  /**
   * Each socket's viewer, so that an ack or a round need not deserialize its attachment again
   * (a structured-clone read per socket per frame). Only a shortcut: a socket missing here (a
   * restart, another wrapper) is looked up from its attachment as before.
   */
  private readonly bySocket = new WeakMap<WebSocket, Viewer<F>>();
  /** The feed's head as the last round read it, and whether it has grown since (notify). */
  private seenHead = 0;
  private grown = true;
  /** What the feed grew by lately (notify's bytes), to tell a burst of ingest (HOT_BYTES_PER_SECOND). */
  private growth: { at: number; bytes: number }[] = [];
  /** No flush before this (ms): set after a round during a burst. */
  private resumeAt = 0;
  private readonly flusher = new SerialFlush(() => this.flushOnce());
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private stallTimer: ReturnType<typeof setTimeout> | null = null;
  private stallTimerAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly source: FeedSource<F>,
    readonly options: FanoutOptions,
  ) {
    // Keep-alive pings are answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    // Woken (or restarted) with sockets that may be behind: a flush scheduled before the
    // eviction died with the old instance, so look once (a no-op when all are caught up).
    this.schedule(0);
  }

  /** Takes a socket whose first frame (snapshot or resumed) says it is at `cursor`. */
  accept(ws: WebSocket, cursor: number, filter: F, first: string, tags: string[], protocol = LIVE_PROTOCOL): void {
    this.ctx.acceptWebSocket(ws, tags);
    const viewer = this.newViewer({ id: crypto.randomUUID(), cursor, filter, protocol });
    ws.serializeAttachment(attachmentOf(viewer));
    this.viewers.set(viewer.id, viewer);
    ws.send(first);
    viewer.inflight.push({ through: cursor, bytes: first.length });
    viewer.inflightBytes += first.length;
    this.schedule(0);
  }

  /** The feed grew (by `bytes` of log, if any): deliver soon (after the batching window). */
  notify(bytes = 0): void {
    this.grown = true;
    if (bytes > 0) this.growth.push({ at: Date.now(), bytes });
    this.schedule(this.options.batchMs);
  }

  message(ws: WebSocket, data: string | ArrayBuffer): void {
    const viewer = this.viewerOf(ws);
    if (!viewer) return;
    const frame = parseClientFrame(data);
    if (!frame) {
      this.close(ws, viewer, LIVE_CLOSE.BAD_MESSAGE, 'the only client frame is {"type":"ack","seq":<last seq received>}');
      return;
    }
    let freed = false;
    while (viewer.inflight.length > 0 && viewer.inflight[0]!.through <= frame.seq) {
      viewer.inflightBytes -= viewer.inflight.shift()!.bytes;
      freed = true;
    }
    if (freed && !this.blocked(viewer)) {
      viewer.blockedSince = null;
      // Whether the socket is behind, from what the last round saw and any growth since: no read
      // of the feed's head per ack (50 viewers acknowledge every frame; that read was a tenth of
      // the object's time flat out). The round that follows reads it once for every socket.
      if (this.grown || viewer.cursor < this.seenHead) this.schedule(0);
    }
  }

  /** The client closed (or the connection failed): forget it, and answer its close frame. */
  closed(ws: WebSocket, code?: number, reason?: string): void {
    const attachment = ws.deserializeAttachment() as Attachment<F> | null;
    if (attachment) this.viewers.delete(attachment.id);
    try {
      // Echo the client's code (1005/1006 are not sendable), as the close handshake expects.
      ws.close(code === undefined || code === 1005 || code === 1006 ? 1000 : code, reason ?? "");
    } catch {
      // already closed (the runtime may have answered for us)
    }
  }

  private newViewer(a: Attachment<F>): Viewer<F> {
    return { ...a, filterKey: JSON.stringify(a.filter), inflight: [], inflightBytes: 0, blockedSince: null };
  }

  /** The socket's state: from memory, or rebuilt from its attachment after a restart. */
  private viewerOf(ws: WebSocket): Viewer<F> | null {
    if (ws.readyState !== WebSocket.OPEN) return null;
    const known = this.bySocket.get(ws);
    if (known && this.viewers.get(known.id) === known) return known;
    const attachment = ws.deserializeAttachment() as Attachment<F> | null;
    if (!attachment || attachment.closed) return null;
    let viewer = this.viewers.get(attachment.id);
    if (!viewer) {
      viewer = this.newViewer(attachment);
      this.viewers.set(attachment.id, viewer);
    }
    this.bySocket.set(ws, viewer);
    return viewer;
  }

  private blocked(viewer: Viewer<F>): boolean {
    return viewer.inflightBytes >= this.options.windowBytes || viewer.inflight.length >= MAX_INFLIGHT_FRAMES;
  }

  private close(ws: WebSocket, viewer: Viewer<F>, code: number, reason: string): void {
    this.viewers.delete(viewer.id);
    try {
      ws.serializeAttachment({ ...attachmentOf(viewer), closed: true });
      ws.close(code, reason.slice(0, 120));
    } catch {
      // already closed
    }
  }

  /** Whether the feed grew by more than HOT_BYTES_PER_SECOND in the last second. */
  private hot(now: number): boolean {
    while (this.growth.length > 0 && this.growth[0]!.at <= now - 1000) this.growth.shift();
    let bytes = 0;
    for (const g of this.growth) bytes += g.bytes;
    return bytes > HOT_BYTES_PER_SECOND;
  }

  private schedule(delay: number): void {
    const now = Date.now();
    const at = Math.max(now + delay, this.resumeAt);
    const delayMs = at - now;
    if (this.timer !== null && this.timerAt <= at) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Number.POSITIVE_INFINITY;
      void this.flusher.request();
    }, delayMs);
  }

  /**
   * A round at `at` to drop the sockets still stalled then. Its own timer: on the flush timer it was
   * cleared and set again by the next ack, two timer calls per round for every round with a paused socket.
   */
  private scheduleStallCheck(at: number): void {
    if (this.stallTimer !== null && this.stallTimerAt <= at) return;
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.stallTimerAt = at;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = null;
      this.stallTimerAt = Number.POSITIVE_INFINITY;
      this.schedule(0);
    }, Math.max(0, at - Date.now()));
  }

  private async flushOnce(): Promise<void> {
    if (this.hot(Date.now())) {
      // A burst of ingest: one round, then the object's thread goes to the appends.
      const moved = await this.round();
      this.resumeAt = Date.now() + HOT_GAP_MS;
      if (moved) this.schedule(0);
      return;
    }
    for (let round = 0; round < ROUNDS_PER_FLUSH; round++) {
      if (!(await this.round())) return;
    }
    this.schedule(0); // more to send: carry on after other events had their turn
  }

  /** One read per group of sockets at the same place; true when anything moved. */
  private async round(): Promise<boolean> {
    const now = Date.now();
    const groups = new Map<string, { cursor: number; filter: F; protocol: number; members: [WebSocket, Viewer<F>][] }>();
    let stallCheckAt = Number.POSITIVE_INFINITY;
    this.grown = false;
    const head = this.source.head();
    this.seenHead = head;
    for (const ws of this.ctx.getWebSockets()) {
      const viewer = this.viewerOf(ws);
      if (!viewer || viewer.cursor >= head) continue;
      if (this.blocked(viewer)) {
        viewer.blockedSince ??= now;
        if (now - viewer.blockedSince >= this.options.stallMs) {
          this.close(ws, viewer, LIVE_CLOSE.TOO_SLOW, `too slow: no ack for ${this.options.stallMs} ms; reconnect with ?since=<your last seq>`);
        } else {
          stallCheckAt = Math.min(stallCheckAt, viewer.blockedSince + this.options.stallMs);
        }
        continue;
      }
      const key = `${viewer.cursor}\u0000${viewer.filterKey}\u0000${viewer.protocol ?? LIVE_PROTOCOL}`;
      const group = groups.get(key) ?? { cursor: viewer.cursor, filter: viewer.filter, protocol: viewer.protocol ?? LIVE_PROTOCOL, members: [] };
      group.members.push([ws, viewer]);
      groups.set(key, group);
    }
    if (stallCheckAt !== Number.POSITIVE_INFINITY) this.scheduleStallCheck(stallCheckAt);

    let moved = false;
    for (const group of groups.values()) {
      let page: FeedPage;
      try {
        page = await this.source.read(group.cursor, group.filter, this.options.frameBytes);
      } catch (error) {
        console.warn(`live feed: reading after ${group.cursor} failed: ${String(error)}`);
        for (const [ws, viewer] of group.members) {
          this.close(ws, viewer, LIVE_CLOSE.RECONNECT, `the feed could not be read; reconnect with ?since=${viewer.cursor}`);
        }
        continue;
      }
      if (page.through <= group.cursor) continue;
      moved = true;
      const frame = page.events.length > 0 ? encodeEventsFrame(page.through, page.events, page.data ?? [], group.protocol) : null;
      const frameBytes = typeof frame === "string" ? frame.length : (frame?.byteLength ?? 0);
      for (const [ws, viewer] of group.members) {
        // The read may have awaited: skip a socket that closed or moved meanwhile.
        if (viewer.cursor !== group.cursor || !this.viewers.has(viewer.id)) continue;
        try {
          if (frame !== null) ws.send(frame);
        } catch {
          this.close(ws, viewer, LIVE_CLOSE.RECONNECT, `send failed; reconnect with ?since=${viewer.cursor}`);
          continue;
        }
        if (frame !== null) {
          viewer.inflight.push({ through: page.through, bytes: frameBytes });
          viewer.inflightBytes += frameBytes;
        }
        viewer.cursor = page.through;
        ws.serializeAttachment(attachmentOf(viewer));
      }
    }
    return moved;
  }
}

/** What a socket keeps across hibernation: where it is, what it watches, how it speaks. */
function attachmentOf<F>(viewer: Viewer<F>): Attachment<F> {
  const { id, cursor, filter, protocol } = viewer;
  return protocol === undefined || protocol === LIVE_PROTOCOL ? { id, cursor, filter } : { id, cursor, filter, protocol };
}
