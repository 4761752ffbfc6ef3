/**
 * Reads a job attempt's log over REST (GET …/jobs/:job/log), streaming: chunks are handed on
 * as they arrive, so the first lines of a long log paint before the rest has downloaded.
 * Bytes before `fromOffset` (already shown) are skipped. Between chunks the reader lets the
 * browser paint: right after the first one (the first lines show at once), then whenever it
 * has worked for a frame's budget, so a 100,000-line log never freezes the page.
 */
import { apiResponse } from "../api/client";
import type { LogChunk, LogTarget } from "./types";

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
  const response = await apiResponse("GET", logUrl(runId, target), undefined, { signal });
  const reader = response.body!.getReader();
  let offset = 0;
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
