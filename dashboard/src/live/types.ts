/**
 * The live sources the pages read: a run (its view, and the log bytes of the job attempt on
 * screen) and the queue. Two implementations: WebSockets (docs/live.md) when the server has
 * them, and REST polling as the fallback; the pages cannot tell them apart.
 */
import type { QueueView, RunView } from "../api/types.ts";

/** Which log: a job attempt of a run attempt. */
export interface LogTarget {
  jobKey: string;
  jobAttemptId: string;
  runAttempt: number;
  jobAttempt: number;
}

export interface LogChunk {
  /** Byte offset of `bytes[0]` in the job attempt's log. */
  offset: number;
  bytes: Uint8Array;
}

export interface LogHandlers {
  onChunk(chunk: LogChunk): void;
  /** The log restarts from nothing (e.g. the feed lost its place): drop what was shown. */
  onReset?(): void;
}

export interface RunFeed {
  readonly mode: "websocket" | "poll";
  /** Every new view of the run (the first as soon as it is known). */
  onRun(listener: (run: RunView) => void): () => void;
  onError(listener: (error: Error) => void): () => void;
  /** Streams one job attempt's log, from `fromOffset`; returns the unsubscribe. */
  followLog(target: LogTarget, fromOffset: number, handlers: LogHandlers): () => void;
  /** Ask for a fresh view now (after Cancel or Re-run). */
  refresh(): void;
  close(): void;
}

export interface QueueFeed {
  readonly mode: "websocket" | "poll";
  onQueue(listener: (queue: QueueView) => void): () => void;
  onError(listener: (error: Error) => void): () => void;
  refresh(): void;
  close(): void;
}
