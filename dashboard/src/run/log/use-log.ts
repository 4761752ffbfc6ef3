/**
 * The log of one job attempt, kept in a LogBuffer fed by the run feed (live chunks or REST
 * reads). Renders are batched to one per animation frame however fast bytes arrive.
 */
import { useLayoutEffect, useMemo, useState } from "preact/hooks";
import type { LogTarget, RunFeed } from "../../live/types.ts";
import { LogBuffer } from "./log-buffer.ts";

export function useLog(feed: RunFeed | null, target: LogTarget | null): { buffer: LogBuffer; version: number } {
  const key = target ? `${target.jobAttemptId}` : "";
  const buffer = useMemo(() => new LogBuffer(), [key]);
  const [version, setVersion] = useState(0);

  // A layout effect: the log is asked for in the same task as the render that shows its panel.
  useLayoutEffect(() => {
    if (!feed || !target) return;
    let frame = 0;
    const bump = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setVersion(buffer.version);
      });
    };
    let unsubscribe = () => {};
    let resubscribing = false;
    const subscribe = (from: number) => {
      unsubscribe();
      unsubscribe = feed.followLog(target, from, {
        onChunk(chunk) {
          if (buffer.append(chunk.offset, chunk.bytes)) {
            if (performance.getEntriesByName("ym:log-first-chunk").length === 0) performance.mark("ym:log-first-chunk", { detail: chunk.bytes.byteLength });
            return bump();
          }
          // A gap (bytes that start after the ones we hold): read again from what we hold.
          if (resubscribing) return;
          resubscribing = true;
          queueMicrotask(() => {
            resubscribing = false;
            subscribe(buffer.bytes);
          });
        },
      });
    };
    subscribe(buffer.bytes);
    return () => {
      unsubscribe();
      cancelAnimationFrame(frame);
    };
  }, [feed, key]);

  return { buffer, version };
}
