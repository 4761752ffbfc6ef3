/**
 * The last lines of a job log, for the errorMessage facet's stackTrace: what a person looks at
 * first when a job failed. Logs keep the agent's ANSI colours; a lineage backend shows plain
 * text, so escape sequences are removed here.
 */

export const LOG_TAIL_LINES = 20;
/** Bytes read from the end of the log; enough for 20 long lines, small enough for any event. */
export const LOG_TAIL_BYTES = 8 * 1024;

// CSI sequences (colours, cursor moves), OSC sequences (titles, links) and lone escapes.
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;

/**
 * `bytes` is the end of a log; `fromStart` says whether it is the whole log (otherwise its
 * first line is probably cut, and is dropped). Returns null when there is nothing to show.
 */
export function logTail(bytes: Uint8Array, fromStart: boolean, maxLines = LOG_TAIL_LINES): string | null {
  const text = new TextDecoder().decode(bytes).replace(ANSI, "").replace(/\r\n?/g, "\n");
  let lines = text.split("\n");
  if (!fromStart) lines = lines.slice(1);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === "") lines.pop();
  const tail = lines.slice(-maxLines).join("\n");
  return tail.trim() === "" ? null : tail;
}
