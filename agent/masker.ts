/**
 * Streaming secret masking over raw bytes (the log may hold invalid UTF-8, so this never
 * decodes), with the rules of domain/masking.ts (each secret and its encodings, see there).
 * A secret split over several writes is still masked: a tail that could still grow into one
 * of its forms is held back until the next write or `end()`, so at most `maxHeldBytes` are
 * ever held (the longest form minus one byte; three times that for wrapped base64).
 */
import { SecretMask } from "../domain/masking.ts";

const EMPTY = Buffer.alloc(0);

export class Masker {
  private readonly mask: SecretMask;
  private held: Buffer = EMPTY;

  constructor(secrets: readonly string[]) {
    this.mask = new SecretMask(secrets);
  }

  /** The most bytes ever held back. */
  get maxHeldBytes(): number {
    return this.mask.maxHeldBytes;
  }

  /** Bytes held back because they may be the start of a secret. */
  get heldBytes(): number {
    return this.held.length;
  }

  /** Masks `chunk`; returns what can be let through now (possibly empty). */
  push(chunk: Buffer): Buffer {
    if (this.mask.empty) return chunk;
    const buf = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const { out, restFrom } = this.mask.scan(buf, false);
    this.held = restFrom < buf.length ? Buffer.from(buf.subarray(restFrom)) : EMPTY; // a copy: do not pin the caller's buffer
    return joined(out);
  }

  /** Everything still held, masked; the stream is over. */
  end(): Buffer {
    if (this.held.length === 0) return EMPTY;
    const { out } = this.mask.scan(this.held, true);
    this.held = EMPTY;
    return joined(out);
  }
}

/** One Buffer that owns its bytes (the parts may be views of the caller's buffer). */
function joined(parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}
