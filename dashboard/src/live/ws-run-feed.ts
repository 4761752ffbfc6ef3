/**
 * The run feed over `GET /api/v1/runs/:run/live`: the snapshot is the run's view; each state
 * transition triggers a fresh read of the view (coalesced: at most one read in flight, then one
 * more if anything happened meanwhile), since outputs, metrics and new retries are not streamed;
 * log bytes come with the events. The view is also read over REST at once, in parallel with
 * the handshake (whichever arrives first is shown; the snapshot is never older). A followed
 * log is read over REST from the start, then continued from the stream's chunks (held until
 * the REST read is done; LogBuffer drops any overlap by offset, and a chunk stored between the
 * end of the REST read and the snapshot shows as a gap, which the log's reader fills by
 * reading REST again from where it stands).
 */
import { get } from "../api/client";
import type { RunView } from "../api/types";
import { base64ToBytes, followLive, type RunLiveEvent } from "../../../domain/live";
import { Emitter } from "./emitter";
import { fetchLog } from "./log-fetch";
import { connector } from "./socket";
import type { LogChunk, LogHandlers, LogTarget, RunFeed } from "./types";

interface LogSub {
  target: LogTarget;
  handlers: LogHandlers;
  /** Stream chunks waiting for the REST read to finish; null once it has. */
  held: LogChunk[] | null;
  controller: AbortController;
}

export function wsRunFeed(runId: string, onUnavailable: (error: unknown) => void): RunFeed {
  const runs = new Emitter<RunView>();
  const errors = new Emitter<Error>();
  const subs = new Set<LogSub>();
  const controller = new AbortController();
  let opened = false;

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
      if (!controller.signal.aborted) errors.emit(e instanceof Error ? e : new Error(String(e)));
    } finally {
      reading = false;
      if (again && !controller.signal.aborted) {
        again = false;
        void reread();
      }
    }
  };

  const onEvent = (event: RunLiveEvent) => {
    if (event.kind === "transition") return void reread();
    let chunk: LogChunk | null = null;
    for (const sub of subs) {
      if (sub.target.jobAttemptId !== event.jobAttemptId) continue;
      chunk ??= { offset: event.offset, bytes: base64ToBytes(event.data) };
      if (sub.held) sub.held.push(chunk);
      else sub.handlers.onChunk(chunk);
    }
  };

  followLive<RunLiveEvent>({
    signal: controller.signal,
    connect: connector(`/api/v1/runs/${runId}/live`, `/api/v1/runs/${runId}`, () => opened),
    onSnapshot(frame) {
      opened = true;
      if (frame.run) runs.emit(frame.run as unknown as RunView);
    },
    onEvent,
  }).then(
    () => undefined,
    (error: unknown) => {
      if (controller.signal.aborted) return;
      if (error instanceof Error && error.name === "LiveRefused") errors.emit(error);
      else onUnavailable(error);
    },
  );

  // The first view over REST, racing the handshake; dropped if the snapshot came first.
  get<RunView>(`/api/v1/runs/${runId}`, controller.signal).then(
    (run) => !opened && !runs.last && runs.emit(run),
    () => undefined, // the stream (or its probe) reports errors
  );

  return {
    mode: "websocket",
    onRun: (l) => runs.on(l),
    onError: (l) => errors.on(l, false),
    refresh: () => void reread(),
    followLog(target, fromOffset, handlers) {
      const sub: LogSub = { target, handlers, held: [], controller: new AbortController() };
      subs.add(sub);
      void (async () => {
        try {
          await fetchLog(runId, target, fromOffset, (c) => handlers.onChunk(c), sub.controller.signal);
        } catch (e) {
          if (sub.controller.signal.aborted) return;
          errors.emit(e instanceof Error ? e : new Error(String(e)));
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
