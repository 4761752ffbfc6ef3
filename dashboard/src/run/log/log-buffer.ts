/**
 * A job log as lines, built from its bytes as they arrive (REST stream or live chunks):
 * decoded with one streaming TextDecoder (a UTF-8 character split across chunks decodes whole),
 * split on "\n", with what a renderer needs to draw any line on its own:
 * - the SGR (colour) state carried into each line from the lines before it;
 * - the sections the agent marks (`▶ step <id> (attempt n)`, `▶ checkout`, `▶ artifacts`).
 * Bytes are accepted by offset: a chunk already held is ignored, a gap is refused.
 */

// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[([0-9;]*)m/g;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]/g;

export const stripAnsi = (text: string) => (text.includes("\x1b") ? text.replace(ANSI, "") : text);

export interface LogSection {
  /** 0-based line index. */
  line: number;
  kind: "step" | "checkout" | "artifacts";
  /** The step id for steps. */
  id: string;
  attempt: number;
}

export class LogBuffer {
  private readonly lines: string[] = [];
  private partial = "";
  private decoder = new TextDecoder("utf-8");
  private sgr = "";
  /** Line index → SGR sequences in force at its start (only lines that have some). */
  private readonly prefixes = new Map<number, string>();
  private plain: (string | undefined)[] = [];
  readonly sections: LogSection[] = [];
  /** Bytes taken so far: the offset the next chunk must start at (or before). */
  bytes = 0;
  /** Bumped on every change, for renderers. */
  version = 0;

  /** Appends a chunk; returns false when it starts after `bytes` (a gap: re-read from `bytes`). */
  append(offset: number, data: Uint8Array): boolean {
    if (offset > this.bytes) return false;
    const end = offset + data.byteLength;
    if (end <= this.bytes) return true;
    const fresh = offset < this.bytes ? data.subarray(this.bytes - offset) : data;
    this.bytes = end;
    this.push(this.decoder.decode(fresh, { stream: true }));
    return true;
  }

  /** The log is complete: flush a trailing partial character. */
  finish(): void {
    this.push(this.decoder.decode());
  }

  private push(text: string): void {
    if (!text) return;
    let start = 0;
    let nl = text.indexOf("\n");
    while (nl !== -1) {
      let line = this.partial + text.slice(start, nl);
      this.partial = "";
      if (line.endsWith("\r")) line = line.slice(0, -1);
      this.complete(line);
      start = nl + 1;
      nl = text.indexOf("\n", start);
    }
    this.partial += text.slice(start);
    this.version++;
  }

  private complete(line: string): void {
    const index = this.lines.length;
    if (this.sgr) this.prefixes.set(index, this.sgr);
    this.lines.push(line);
    if (line.includes("\x1b[")) this.sgr = carry(this.sgr, line);
    if (line.includes("▶ ")) this.section(index, line);
  }

  private section(index: number, line: string): void {
    const text = stripAnsi(line);
    const step = /^▶ step (\S+)(?: — .*)? \(attempt (\d+)\)\s*$/.exec(text);
    if (step) this.sections.push({ line: index, kind: "step", id: step[1]!, attempt: Number(step[2]) });
    else if (text === "▶ checkout" || text === "▶ artifacts") this.sections.push({ line: index, kind: text.slice(2) as "checkout", id: text.slice(2), attempt: 1 });
  }

  /** Lines, counting an unfinished last line. */
  get length(): number {
    return this.lines.length + (this.partial ? 1 : 0);
  }

  /** The raw text of line `i` (ANSI kept). */
  line(i: number): string {
    return i < this.lines.length ? this.lines[i]! : this.partial;
  }

  isPartial(i: number): boolean {
    return i >= this.lines.length;
  }

  prefix(i: number): string {
    return i < this.lines.length ? (this.prefixes.get(i) ?? "") : this.sgr;
  }

  /** Line `i` without escape sequences, lower-cased (for search). */
  plainLower(i: number): string {
    if (i >= this.lines.length) return stripAnsi(this.partial).toLowerCase();
    let p = this.plain[i];
    if (p === undefined) p = this.plain[i] = stripAnsi(this.lines[i]!).toLowerCase();
    return p;
  }

  /** Indexes of the lines containing `query` (case-insensitive). */
  search(query: string, limit = 100_000): number[] {
    const q = query.toLowerCase();
    const found: number[] = [];
    if (!q) return found;
    const n = this.length;
    for (let i = 0; i < n && found.length < limit; i++) if (this.plainLower(i).includes(q)) found.push(i);
    return found;
  }
}

/** The SGR state after `line`, given the state before it: a reset clears it, others accumulate. */
function carry(state: string, line: string): string {
  SGR.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = SGR.exec(line))) {
    const parts = m[1]!.split(";");
    // Find the last reset (0 or empty), skipping the arguments of 38/48 (extended colours).
    let after = -1;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (p === "" || p === "0") after = i + 1;
      else if (p === "38" || p === "48" || p === "58") i += parts[i + 1] === "2" ? 4 : 2;
    }
    if (after === -1) state += m[0];
    else {
      const rest = parts.slice(after).join(";");
      state = rest ? `\x1b[${rest}m` : "";
    }
  }
  // A long-lived pile of codes is equivalent to its tail; keep it short.
  return state.length > 120 ? state.slice(state.indexOf("\x1b[", state.length - 120)) : state;
}
