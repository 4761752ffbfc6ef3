/** The queue feed over REST: GET /api/v1/queue (one queue, or every queue) every second while the page is visible. */
import { get, withQuery } from "../api/client.ts";
import type { QueueView } from "../api/types.ts";
import { Emitter } from "./emitter.ts";
import type { QueueFeed } from "./types.ts";

export const QUEUE_POLL_MS = 1000;

/** `queue` null = every queue (merged by the server). */
export function pollQueueFeed(queue: string | null): QueueFeed {
  const path = withQuery("/api/v1/queue", { queue });
  const views = new Emitter<QueueView>();
  const errors = new Emitter<Error>();
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastJson = "";
  const schedule = (ms: number) => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(poll, ms);
  };
  async function poll() {
    if (closed) return;
    if (document.visibilityState !== "visible" && views.last) return schedule(QUEUE_POLL_MS);
    try {
      const view = await get<QueueView>(path);
      const json = JSON.stringify(view, (k, v) => (k === "waitMs" ? undefined : v));
      if (json !== lastJson) {
        lastJson = json;
        views.emit(view);
      }
    } catch (e) {
      errors.emit(e instanceof Error ? e : new Error(String(e)));
    }
    schedule(QUEUE_POLL_MS);
  }
  void poll();
  return {
    mode: "poll",
    onQueue: (l) => views.on(l),
    onError: (l) => errors.on(l, false),
    refresh: () => schedule(0),
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
