/**
 * The run feed over REST: GET /api/v1/runs/:run every second while the run is live (every
 * few seconds once it has ended: someone may re-run it), and the followed log re-read while
 * its job attempt runs (only the new bytes are handed on).
 */
import { ApiError, get } from "../api/client.ts";
import { getFirst } from "../api/prefetch.ts";
import type { RunView } from "../api/types.ts";
import { isTerminal } from "../lib/status.ts";
import { Emitter, ErrorEmitter } from "./emitter.ts";
import { jobAttemptStatus } from "./job-status.ts";
import { fetchLogWhole } from "./log-fetch.ts";
import { emitWhenChanged, poller } from "./poller.ts";
import type { LogHandlers, LogTarget, RunFeed } from "./types.ts";

export const RUN_POLL_MS = 1000;
export const ENDED_RUN_POLL_MS = 5000;
export const LOG_POLL_MS = 1000;

export function pollRunFeed(runId: string): RunFeed {
  const runs = new Emitter<RunView>();
  const errors = new ErrorEmitter();
  let inFlight: AbortController | null = null;
  // Durations of live parts change every read; the page ticks them itself.
  const show = emitWhenChanged(runs, "durationMs");

  const polling = poller(
    async (p) => {
      inFlight?.abort();
      const controller = (inFlight = new AbortController());
      try {
        const path = `/api/v1/runs/${runId}`;
        const run = await (runs.last ? get<RunView>(path, controller.signal) : getFirst<RunView>(path, controller.signal));
        show(run);
        p.schedule(isTerminal(run.status) ? ENDED_RUN_POLL_MS : RUN_POLL_MS);
      } catch (e) {
        if (controller.signal.aborted) return;
        errors.fail(e);
        if (!(e instanceof ApiError && (e.status === 404 || e.status === 401 || e.status === 403))) p.schedule(RUN_POLL_MS * 3);
      }
    },
    { shown: () => runs.last !== undefined, hiddenMs: RUN_POLL_MS },
  );

  return {
    mode: "poll",
    onRun: (l) => runs.on(l),
    onError: (l) => errors.on(l, false),
    refresh: () => polling.schedule(0),
    followLog(target: LogTarget, fromOffset: number, handlers: LogHandlers) {
      let offset = fromOffset;
      let stopped = false;
      let logTimer: ReturnType<typeof setTimeout> | undefined;
      const controller = new AbortController();
      const read = async () => {
        if (stopped) return;
        // Read once more after the job attempt has ended: its last bytes land just before.
        const ended = runs.last ? isTerminal(jobAttemptStatus(runs.last, target) ?? "CREATED") : false;
        try {
          offset = Math.max(
            offset,
            await fetchLogWhole(runId, target, offset, (chunk) => {
              offset = Math.max(offset, chunk.offset + chunk.bytes.byteLength);
              handlers.onChunk(chunk);
            }, controller.signal),
          );
        } catch (e) {
          if (stopped) return;
          if (!(e instanceof ApiError && e.status === 404)) errors.fail(e);
        }
        if (!ended && !stopped) logTimer = setTimeout(read, LOG_POLL_MS);
      };
      void read();
      return () => {
        stopped = true;
        clearTimeout(logTimer);
        controller.abort();
      };
    },
    close() {
      polling.close();
      inFlight?.abort();
    },
  };
}
