/**
 * One queue's feed over `GET /api/v1/queue/live?queue=`: a snapshot, then events applied with
 * `applyQueueEvent` (domain/live.ts, tested to equal a fresh snapshot). A resume too old for
 * the server's kept events comes back as a new snapshot, which simply replaces the state.
 */
import { withQuery } from "../api/client.ts";
import type { QueueView } from "../api/types.ts";
import { applyQueueEvent, followLive, type QueueLiveEvent, type QueueSnapshot } from "../../../domain/live.ts";
import { Emitter, ErrorEmitter } from "./emitter.ts";
import { connector, onStreamEnd } from "./socket.ts";
import type { QueueFeed } from "./types.ts";

export function wsQueueFeed(name: string, onUnavailable: (error: unknown) => void): QueueFeed {
  const queue = new Emitter<QueueView>();
  const errors = new ErrorEmitter();
  const controller = new AbortController();
  let state: QueueSnapshot | null = null;
  const emit = () => state && queue.emit({ pending: state.pending, running: state.running });

  followLive<QueueLiveEvent>({
    signal: controller.signal,
    connect: connector(withQuery("/api/v1/queue/live", { queue: name }), withQuery("/api/v1/queue", { queue: name }), () => state !== null),
    onSnapshot(frame) {
      if (!frame.queue) return;
      state = frame.queue;
      emit();
    },
    onEvent(event) {
      if (!state) return;
      state = applyQueueEvent(state, event);
      emit();
    },
  }).then(() => undefined, onStreamEnd(controller.signal, errors, onUnavailable));

  return {
    mode: "websocket",
    onQueue: (l) => queue.on(l),
    onError: (l) => errors.on(l, false),
    // The stream is the truth; showing it again undoes an optimistic change that failed.
    refresh: emit,
    close: () => controller.abort(),
  };
}
