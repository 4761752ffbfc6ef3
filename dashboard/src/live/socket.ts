/**
 * Opens a live stream (docs/live.md) from the browser: a same-origin WebSocket, authenticated by
 * the session cookie (the server checks the Origin), `?since=` to resume. The browser hides why
 * a handshake failed, so when a stream has never opened, the matching REST read tells a refusal
 * (401, 403, 404: shown, not retried) from a server or proxy without live streams (use polling).
 */
import { get } from "../api/client.ts";
import { LiveRefused, type LiveSocket } from "../../../domain/live.ts";
import type { ErrorEmitter } from "./emitter.ts";

/** Thrown by `connect` when the stream cannot be used but REST works: fall back to polling. */
export class LiveUnavailable extends Error {
  constructor() {
    super("live stream unavailable");
    this.name = "LiveUnavailable";
  }
}

export function openSocket(path: string, since: number | null): Promise<LiveSocket> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (since !== null) url.searchParams.set("since", String(since));
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer"; // a run stream's protocol 2 sends log bytes in binary frames
    const fail = () => reject(new Error(`could not open ${path}`));
    ws.addEventListener("error", fail, { once: true });
    ws.addEventListener(
      "open",
      () => {
        ws.removeEventListener("error", fail);
        resolve(ws);
      },
      { once: true },
    );
  });
}

/**
 * `connect` for followLive: while the stream has never delivered a first frame, a failure to
 * open asks `probe` (the REST twin) why — its error is a refusal; its success means no streams.
 */
export function connector(path: string, probe: string, opened: () => boolean) {
  return async (since: number | null): Promise<LiveSocket> => {
    try {
      return await openSocket(path, since);
    } catch (error) {
      if (opened()) throw error; // it worked before: a reconnect, followLive retries
      try {
        await get(probe);
      } catch (refusal) {
        throw new LiveRefused(refusal instanceof Error ? refusal.message : String(refusal));
      }
      throw new LiveUnavailable();
    }
  };
}

/**
 * What a WebSocket feed does when its stream stops for good (followLive rejects): nothing once
 * the feed is closed; a refusal is shown; anything else means no streams here, so the caller
 * falls back to polling.
 */
export function onStreamEnd(signal: AbortSignal, errors: ErrorEmitter, onUnavailable: (error: unknown) => void) {
  return (error: unknown): void => {
    if (signal.aborted) return;
    if (error instanceof Error && error.name === "LiveRefused") errors.emit(error);
    else onUnavailable(error);
  };
}
