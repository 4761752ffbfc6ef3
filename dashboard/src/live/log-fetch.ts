/**
 * Reads a job attempt's log over REST (GET …/jobs/:job/log), streaming: chunks are handed on
 * as they arrive, so the first lines of a long log paint before the rest has downloaded.
 * Bytes before `fromOffset` (already shown) are not fetched again: the read asks for the rest
 * (`Range: bytes=N-`). Between chunks the reader lets the
 * browser paint: right after the first one (the first lines show at once), then whenever it
 * has worked for a frame's budget, so a 100,000-line log never freezes the page.
 */
import { ApiError, apiResponse } from "../api/client.ts";
import type { LogChunk, LogTarget } from "./types.ts";

const SLICE = 256 * 1024;
const BUDGET_MS = 24;

export function logUrl(runId: string, target: Pick<LogTarget, "jobKey" | "runAttempt" | "jobAttempt">): string {
  return `/api/v1/runs/${runId}/jobs/${encodeURIComponent(target.jobKey)}/log?attempt=${target.jobAttempt}&runAttempt=${target.runAttempt}`;
}

/** Resolves after the next frame has been painted (or soon, in a hidden tab). */
function nextPaint(): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 50);
    requestAnimationFrame(() =>
      setTimeout(() => {
        clearTimeout(timer);
        resolve();
      }, 0),
    );
  });
}

/** Resolves with the log's length once it has been read whole. */
export async function fetchLog(runId: string, target: LogTarget, fromOffset: number, onChunk: (c: LogChunk) => void, signal: AbortSignal): Promise<number> {
  if (fromOffset === 0) performance.mark("ym:log-request", { detail: target.jobKey });
  let response: Response;
  try {
    response = await apiResponse("GET", logUrl(runId, target), undefined, { signal, headers: fromOffset > 0 ? { range: `bytes=${fromOffset}-` } : {} });
  } catch (error) {
    // Nothing past what is already shown.
    if (error instanceof ApiError && error.status === 416) return fromOffset;
    throw error;
  }
  const reader = response.body!.getReader();
  // A 206 starts where it was asked to; a server that ignores the range sends it all (200).
  let offset = response.status === 206 ? fromOffset : 0;
  let handed = 0;
  let since = performance.now();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return offset;
    const start = offset;
    offset += value.byteLength;
    if (offset <= fromOffset) continue;
    for (let at = Math.max(0, fromOffset - start); at < value.byteLength; at += SLICE) {
      onChunk({ offset: start + at, bytes: value.subarray(at, Math.min(value.byteLength, at + SLICE)) });
      if (handed++ === 0 || performance.now() - since > BUDGET_MS) {
        await nextPaint();
        if (signal.aborted) throw new DOMException("aborted", "AbortError");
        since = performance.now();
      }
    }
  }
}

/**
 * `fetchLog`, read again from where it stopped when the response breaks off mid-log (a few
 * times, backing off): a log being moved to R2 as its job ends can be cut short, and the next
 * read has it whole. An API error (404, 401…) is not retried.
 */
export async function fetchLogWhole(runId: string, target: LogTarget, fromOffset: number, onChunk: (c: LogChunk) => void, signal: AbortSignal): Promise<number> {
  let offset = fromOffset;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetchLog(runId, target, offset, (c) => {
        offset = Math.max(offset, c.offset + c.bytes.byteLength);
        onChunk(c);
      }, signal);
    } catch (error) {
      if (signal.aborted || error instanceof ApiError || attempt >= 4) throw error;
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
  }
}
