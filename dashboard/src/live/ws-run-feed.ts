/**
 * The run feed over `GET /api/v1/runs/:run/live`: the snapshot is the run's view; each state
 * transition triggers a fresh read of the view (coalesced: at most one read in flight, then one
 * more if anything happened meanwhile), since outputs, metrics and new retries are not streamed;
 * log bytes come with the events. The first view is read over REST (boot.js may already have
 * asked); the stream then opens at once for a live run, a second later for an ended one (its
 * first paint needs no stream, and the handshake's snapshot would compete with the log's read
 * for the run's object). The snapshot is never older than that first view.
 *
 * A followed log is read over REST from the start, then continued from the stream's chunks
 * (held until the REST read is done; LogBuffer drops any overlap by offset). For a job
 * attempt that is still running, the REST read starts only after the stream's snapshot, so the
 * two together miss nothing; an ended job attempt's log is complete, so it is read at once.
 */
import { get } from "../api/client.ts";
import { getFirst } from "../api/prefetch.ts";
import type { RunView } from "../api/types.ts";
import { followLive, LIVE_PROTOCOL_BINARY, type LiveLogBytes, logBytesOf, type RunLiveEvent } from "../../../domain/live.ts";
import { Emitter, ErrorEmitter } from "./emitter.ts";
import { isTerminal } from "../lib/status.ts";
import { fetchLogWhole } from "./log-fetch.ts";
import { jobAttemptStatus } from "./job-status.ts";
import { connector, onStreamEnd } from "./socket.ts";
import type { LogChunk, LogHandlers, LogTarget, RunFeed } from "./types.ts";

interface LogSub {
  target: LogTarget;
  handlers: LogHandlers;
  /** Stream chunks waiting for the REST read to finish; null once it has. */
  held: LogChunk[] | null;
  controller: AbortController;
}

export function wsRunFeed(runId: string, onUnavailable: (error: unknown) => void): RunFeed {
  const runs = new Emitter<RunView>();
  const errors = new ErrorEmitter();
  const subs = new Set<LogSub>();
  const controller = new AbortController();
  let opened = false;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((r) => (markReady = r));

  let reading = false;
  let again = false;
  const reread = async (): Promise<void> => {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      runs.emit(await get<RunView>(`/api/v1/runs/${runId}`, controller.signal));
    } catch (e) {
      if (!controller.signal.aborted) errors.fail(e);
    } finally {
      reading = false;
      if (again && !controller.signal.aborted) {
        again = false;
        void reread();
      }
    }
  };

  const onEvent = (event: RunLiveEvent | LiveLogBytes) => {
    // A step's metrics reported while it runs (`progress`), and a job's wait for its concurrency group, are read with the view, like transitions.
    if (event.kind === "transition" || event.kind === "progress" || event.kind === "waiting") return void reread();
    let chunk: LogChunk | null = null;
    for (const sub of subs) {
      if (sub.target.jobAttemptId !== event.jobAttemptId) continue;
      chunk ??= { offset: event.offset, bytes: logBytesOf(event) };
      if (sub.held) sub.held.push(chunk);
      else sub.handlers.onChunk(chunk);
    }
  };

  const follow = () =>
    followLive<RunLiveEvent | LiveLogBytes>({
      signal: controller.signal,
      // Protocol 2: log bytes in binary frames, no base64 on either side (domain/live.ts).
      connect: connector(`/api/v1/runs/${runId}/live?protocol=${LIVE_PROTOCOL_BINARY}`, `/api/v1/runs/${runId}`, () => opened),
      onSnapshot(frame) {
        opened = true;
        if (frame.run) runs.emit(frame.run as unknown as RunView);
        markReady();
      },
      onEvent,
    }).then(() => undefined, onStreamEnd(controller.signal, errors, onUnavailable));

  // The first view, then the stream (see above).
  let started = false;
  const start = () => {
    if (started || controller.signal.aborted) return;
    started = true;
    void follow();
  };
  getFirst<RunView>(`/api/v1/runs/${runId}`, controller.signal).then(
    (run) => {
      if (!opened && !runs.last) runs.emit(run);
      if (isTerminal(run.status)) setTimeout(start, 1000);
      else start();
    },
    () => start(), // the stream's probe reports the error
  );

  return {
    mode: "websocket",
    onRun: (l) => runs.on(l),
    onError: (l) => errors.on(l, false),
    refresh() {
      start();
      void reread();
    },
    followLog(target, fromOffset, handlers) {
      const sub: LogSub = { target, handlers, held: [], controller: new AbortController() };
      subs.add(sub);
      void (async () => {
        const status = runs.last ? jobAttemptStatus(runs.last, target) : undefined;
        if (!status || !isTerminal(status)) await ready;
        if (sub.controller.signal.aborted) return;
        try {
          await fetchLogWhole(runId, target, fromOffset, (c) => handlers.onChunk(c), sub.controller.signal);
        } catch (e) {
          if (sub.controller.signal.aborted) return;
          errors.fail(e);
        }
        const held = sub.held ?? [];
        sub.held = null;
        for (const c of held) handlers.onChunk(c);
      })();
      return () => {
        sub.controller.abort();
        subs.delete(sub);
      };
    },
    close() {
      controller.abort();
      for (const sub of subs) sub.controller.abort();
      subs.clear();
    },
  };
}
