/**
 * Streaming secret masking over raw bytes (the log may hold invalid UTF-8, so this never
 * decodes). Every secret and its base64 is replaced by `***`, also when it arrives split over
 * several writes: a tail that could still grow into a secret is held back until the next write
 * or `end()`, so at most (longest secret − 1) bytes are ever held.
 */

const REPLACEMENT = Buffer.from("***");

export function maskPatterns(secrets: readonly string[]): Buffer[] {
  const seen = new Set<string>();
  const out: Buffer[] = [];
  const add = (b: Buffer) => {
    if (b.length === 0) return;
    const key = b.toString("hex");
    if (seen.has(key)) return;
    seen.add(key);
    out.push(b);
  };
  for (const secret of secrets) {
    if (!secret) continue;
    const raw = Buffer.from(secret, "utf8");
    add(raw);
    add(Buffer.from(raw.toString("base64"), "utf8"));
    // A multi-line secret is often printed one line at a time: mask its lines as well.
    if (/[\r\n]/.test(secret)) {
      for (const line of secret.split(/\r?\n/)) if (line.trim().length >= 4) add(Buffer.from(line, "utf8"));
    }
  }
  // Longest first, so that at one position the longest secret wins.
  return out.sort((a, b) => b.length - a.length);
}

export class Masker {
  private readonly byFirstByte = new Map<number, Buffer[]>();
  private held: Buffer = Buffer.alloc(0);
  readonly maxLength: number;

  constructor(secrets: readonly string[]) {
    const patterns = maskPatterns(secrets);
    this.maxLength = patterns.reduce((m, p) => Math.max(m, p.length), 0);
    for (const p of patterns) {
      const first = p[0]!;
      const list = this.byFirstByte.get(first) ?? [];
      list.push(p);
      this.byFirstByte.set(first, list);
    }
  }

  /** Bytes held back because they may be the start of a secret. */
  get heldBytes(): number {
    return this.held.length;
  }

  /** Masks `chunk`; returns what can be let through now (possibly empty). */
  push(chunk: Buffer): Buffer {
    if (this.maxLength === 0) return chunk;
    const buf = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const { out, rest } = this.scan(buf, false);
    this.held = Buffer.from(rest); // copy: do not pin the caller's buffer
    return out;
  }

  /** Everything still held, masked; the stream is over. */
  end(): Buffer {
    if (this.maxLength === 0 || this.held.length === 0) return Buffer.alloc(0);
    const { out } = this.scan(this.held, true);
    this.held = Buffer.alloc(0);
    return out;
  }

  private scan(buf: Buffer, final: boolean): { out: Buffer; rest: Buffer } {
    const parts: Buffer[] = [];
    let copiedFrom = 0;
    let i = 0;
    while (i < buf.length) {
      const candidates = this.byFirstByte.get(buf[i]!);
      if (candidates) {
        let matched = 0;
        let maybeLonger = false;
        for (const p of candidates) {
          const avail = buf.length - i;
          if (avail >= p.length) {
            if (buf.compare(p, 0, p.length, i, i + p.length) === 0) {
              matched = p.length;
              break; // longest first
            }
          } else if (!final && buf.compare(p, 0, avail, i, buf.length) === 0) {
            // What is left is the start of this (longer) secret: wait for more bytes.
            maybeLonger = true;
          }
        }
        if (maybeLonger) {
          if (i > copiedFrom) parts.push(buf.subarray(copiedFrom, i));
          return { out: Buffer.concat(parts), rest: buf.subarray(i) };
        }
        if (matched) {
          if (i > copiedFrom) parts.push(buf.subarray(copiedFrom, i));
          parts.push(REPLACEMENT);
          i += matched;
          copiedFrom = i;
          continue;
        }
      }
      i += 1;
    }
    if (copiedFrom < buf.length) parts.push(buf.subarray(copiedFrom));
    return { out: parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts), rest: Buffer.alloc(0) };
  }
}
