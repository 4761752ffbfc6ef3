/** A queue (or every queue: null) as it changes (WebSocket or polling), held still while a row is being dragged. */
import { useEffect, useRef, useState } from "preact/hooks";
import type { QueueView } from "../api/types.ts";
import { openQueueFeed, type QueueFeed } from "../live/index.ts";

export function useQueueFeed(name: string | null): {
  queue: QueueView | undefined;
  error: Error | undefined;
  feed: QueueFeed | null;
  /** While true, updates are kept aside and applied when it turns false. */
  hold(on: boolean): void;
  /** Shows a local change at once (an optimistic reorder or cancel). */
  override(view: QueueView): void;
} {
  const [queue, setQueue] = useState<QueueView | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [feed, setFeed] = useState<QueueFeed | null>(null);
  const held = useRef(false);
  const pending = useRef<QueueView | null>(null);

  useEffect(() => {
    setQueue(undefined);
    const f = openQueueFeed(name);
    setFeed(f);
    const off = f.onQueue((q) => {
      setError(undefined);
      if (held.current) pending.current = q;
      else setQueue(q);
    });
    const offError = f.onError(setError);
    return () => {
      off();
      offError();
      f.close();
    };
  }, [name]);

  return {
    queue,
    error,
    feed,
    hold(on) {
      held.current = on;
      if (!on && pending.current) {
        setQueue(pending.current);
        pending.current = null;
      }
    },
    override: setQueue,
  };
}
