/** The queue feed over REST: GET /api/v1/queue every second while the page is visible. */
import { get } from "../api/client.ts";
import type { QueueView } from "../api/types.ts";
import { Emitter, ErrorEmitter } from "./emitter.ts";
import { emitWhenChanged, poller } from "./poller.ts";
import type { QueueFeed } from "./types.ts";

export const QUEUE_POLL_MS = 1000;

export function pollQueueFeed(): QueueFeed {
  const queue = new Emitter<QueueView>();
  const errors = new ErrorEmitter();
  const show = emitWhenChanged(queue, "waitMs");
  const polling = poller(
    async (p) => {
      try {
        show(await get<QueueView>("/api/v1/queue"));
      } catch (e) {
        errors.fail(e);
      }
      p.schedule(QUEUE_POLL_MS);
    },
    { shown: () => queue.last !== undefined, hiddenMs: QUEUE_POLL_MS },
  );
  return {
    mode: "poll",
    onQueue: (l) => queue.on(l),
    onError: (l) => errors.on(l, false),
    refresh: () => polling.schedule(0),
    close: () => polling.close(),
  };
}
