/** The queue feed over REST: GET /api/v1/queue (one queue, or every queue) every second while the page is visible. */
import { get, withQuery } from "../api/client.ts";
import type { QueueView } from "../api/types.ts";
import { Emitter, ErrorEmitter } from "./emitter.ts";
import { emitWhenChanged, poller } from "./poller.ts";
import type { QueueFeed } from "./types.ts";

export const QUEUE_POLL_MS = 1000;

/** `queue` null = every queue (merged by the server). */
export function pollQueueFeed(queue: string | null): QueueFeed {
  const path = withQuery("/api/v1/queue", { queue });
  const views = new Emitter<QueueView>();
  const errors = new ErrorEmitter();
  const show = emitWhenChanged(views, "waitMs");
  const polling = poller(
    async (p) => {
      try {
        show(await get<QueueView>(path));
      } catch (e) {
        errors.fail(e);
      }
      p.schedule(QUEUE_POLL_MS);
    },
    { shown: () => views.last !== undefined, hiddenMs: QUEUE_POLL_MS },
  );
  return {
    mode: "poll",
    onQueue: (l) => views.on(l),
    onError: (l) => errors.on(l, false),
    refresh: () => polling.schedule(0),
    close: () => polling.close(),
  };
}
