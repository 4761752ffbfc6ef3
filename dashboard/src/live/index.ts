/**
 * The live sources the pages use: WebSockets (docs/live.md) first; REST polling when the
 * stream cannot be had (a proxy without WebSockets, an older server). The switch is invisible
 * to the pages: listeners stay, and a followed log carries on from the last byte it got.
 * `?live=poll` in the page's URL forces polling (for comparing, and for the tests).
 */
import type { QueueView, RunView } from "../api/types.ts";
import { Emitter } from "./emitter.ts";
import { pollQueueFeed } from "./poll-queue-feed.ts";
import { pollRunFeed } from "./poll-run-feed.ts";
import type { LogChunk, LogHandlers, LogTarget, QueueFeed, RunFeed } from "./types.ts";
import { wsQueueFeed } from "./ws-queue-feed.ts";
import { wsRunFeed } from "./ws-run-feed.ts";

const forcePoll = () => new URLSearchParams(location.search).get("live") === "poll" || typeof WebSocket === "undefined";

export function openRunFeed(runId: string): RunFeed {
  const runs = new Emitter<RunView>();
  const errors = new Emitter<Error>();
  const logs = new Set<{ target: LogTarget; offset: number; handlers: LogHandlers; stop(): void }>();
  let closed = false;
  let offs: (() => void)[] = [];
  let current: RunFeed;

  const attach = (feed: RunFeed) => {
    current = feed;
    offs = [feed.onRun((r) => runs.emit(r)), feed.onError((e) => errors.emit(e))];
  };
  const fallBack = (why: unknown) => {
    if (closed || current.mode === "poll") return;
    console.info("live stream unavailable, polling instead:", why);
    for (const off of offs) off();
    current.close();
    attach(pollRunFeed(runId));
    for (const log of logs) log.stop = current.followLog(log.target, log.offset, log.handlers);
  };
  attach(forcePoll() ? pollRunFeed(runId) : wsRunFeed(runId, fallBack));

  return {
    get mode() {
      return current.mode;
    },
    onRun: (l) => runs.on(l),
    onError: (l) => errors.on(l, false),
    refresh: () => current.refresh(),
    followLog(target, fromOffset, handlers) {
      const log = {
        target,
        offset: fromOffset,
        handlers: {
          onChunk(c: LogChunk) {
            log.offset = Math.max(log.offset, c.offset + c.bytes.byteLength);
            handlers.onChunk(c);
          },
        },
        stop: () => {},
      };
      log.stop = current.followLog(target, fromOffset, log.handlers);
      logs.add(log);
      return () => {
        log.stop();
        logs.delete(log);
      };
    },
    close() {
      closed = true;
      for (const off of offs) off();
      current.close();
    },
  };
}

/**
 * A queue's feed: live over its WebSocket (falling back to polling), or, for every queue at once
 * (`queue` null), by polling the merged view.
 */
export function openQueueFeed(name: string | null): QueueFeed {
  const queue = new Emitter<QueueView>();
  const errors = new Emitter<Error>();
  let closed = false;
  let offs: (() => void)[] = [];
  let current: QueueFeed;
  const attach = (feed: QueueFeed) => {
    current = feed;
    offs = [feed.onQueue((q) => queue.emit(q)), feed.onError((e) => errors.emit(e))];
  };
  const fallBack = (why: unknown) => {
    if (closed || current.mode === "poll") return;
    console.info("live stream unavailable, polling instead:", why);
    for (const off of offs) off();
    current.close();
    attach(pollQueueFeed(name));
  };
  attach(forcePoll() || name === null ? pollQueueFeed(name) : wsQueueFeed(name, fallBack));
  return {
    get mode() {
      return current.mode;
    },
    onQueue: (l) => queue.on(l),
    onError: (l) => errors.on(l, false),
    refresh: () => current.refresh(),
    close() {
      closed = true;
      for (const off of offs) off();
      current.close();
    },
  };
}

export type { LogTarget, QueueFeed, RunFeed } from "./types.ts";
