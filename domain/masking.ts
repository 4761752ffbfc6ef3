/**
 * Secret masking: the ONE set of rules, used by the agent (the job log, streamed, in
 * agent/masker.ts; the step and job outputs it reports) and by the server (the outputs it
 * stores: worker/ and durable-objects/ import `maskText` / `maskOutputs` from here).
 * Pure: no Node or Cloudflare API (Uint8Array and TextEncoder only). docs/security.md,
 * "What masking covers", says the same in prose.
 *
 * Each secret is replaced by `***`, and so is each of these forms of it:
 * - its base64 (standard and URL-safe alphabet) at the three byte alignments: the characters
 *   that depend on the secret's bytes only, so that the secret is caught also inside other
 *   bytes (`base64("user:" + secret)`, a docker auth field), plus the padded base64 of the
 *   secret alone; base64 forms also match when wrapped, i.e. with a line break (`\n` or
 *   `\r\n`) between any two characters (`base64` wraps at 76 columns), and the breaks are
 *   kept after the `***`;
 * - its URL encoding (encodeURIComponent, the RFC 3986 form that also escapes `!'()*`, and
 *   both with `+` for a space);
 * - its JSON string escaping (JSON.stringify without the quotes; also with non-ASCII as
 *   `\uXXXX` as Python writes it, and with `<>&` escaped as Go writes it);
 * - its XML/HTML escaping (`&amp; &lt; &gt; &quot;` and `'` as `&apos;`, `&#39;` or `&#x27;`);
 * - each line of a multi-line secret, as printed and trimmed.
 * A derived form (every one of the above but the secret itself) shorter than
 * MIN_DERIVED_BYTES is not masked: a 3-character slice of base64 would hide random text all
 * over the log and protect nothing. The secret itself is masked whatever its length.
 * At one position the longest form wins.
 */

export const MASK = "***";
/** Derived forms shorter than this (in UTF-8 bytes) are not masked. */
export const MIN_DERIVED_BYTES = 6;

export interface MaskPattern {
  bytes: Uint8Array;
  /** A line break (`\n` or `\r\n`) may sit between any two of its bytes (wrapped base64). */
  wrapped: boolean;
}

const encoder = new TextEncoder();
const MASK_BYTES = encoder.encode(MASK);
const LF = 0x0a;
const CR = 0x0d;

/** Every form of one secret that is masked, as text (the secret itself first). */
export function maskForms(secret: string): { text: string; wrapped: boolean }[] {
  if (!secret) return [];
  const forms: { text: string; wrapped: boolean }[] = [{ text: secret, wrapped: false }];
  const derived = (text: string, wrapped = false) => {
    if (encoder.encode(text).length >= MIN_DERIVED_BYTES) forms.push({ text, wrapped });
  };
  const raw = encoder.encode(secret);
  for (const b64 of base64Forms(raw)) {
    derived(b64, true);
    derived(toBase64Url(b64), true);
  }
  const uri = encodeURIComponent(secret);
  const strict = uri.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  for (const u of [uri, strict]) {
    derived(u);
    derived(u.replace(/%20/g, "+"));
  }
  const json = JSON.stringify(secret).slice(1, -1);
  derived(json);
  derived(json.replace(/[^\x00-\x7f]/g, (c) => unicodeEscape(c)));
  derived(json.replace(/[<>&\u2028\u2029]/g, (c) => unicodeEscape(c)));
  const xml = secret.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  for (const apos of ["&apos;", "&#39;", "&#x27;"]) derived(xml.replace(/'/g, apos));
  if (/[\r\n]/.test(secret)) {
    // A multi-line secret is often printed one line at a time.
    for (const line of secret.split(/\r?\n/)) {
      derived(line);
      derived(line.trim());
    }
  }
  return forms;
}

/** The patterns for a set of secrets, each once, longest first. */
export function maskPatterns(secrets: readonly string[]): MaskPattern[] {
  const byText = new Map<string, boolean>();
  for (const secret of secrets) {
    for (const f of maskForms(secret)) byText.set(f.text, (byText.get(f.text) ?? false) || f.wrapped);
  }
  return [...byText]
    .map(([text, wrapped]) => ({ bytes: encoder.encode(text), wrapped }))
    .sort((a, b) => b.bytes.length - a.bytes.length);
}

export interface ScanResult {
  /** The masked bytes that can be let through, in order. */
  out: Uint8Array[];
  /** Where the bytes held back (a possible start of a pattern) begin; `buf.length` if none. */
  restFrom: number;
  /** How many matches were replaced. */
  masked: number;
}

/**
 * The compiled rules for one set of secrets. `scan` is the byte-level core shared by the
 * streaming masker (which keeps `buf.subarray(restFrom)` for the next write) and `maskText`.
 */
export class SecretMask {
  private readonly byFirstByte: (MaskPattern[] | undefined)[] = new Array(256);
  readonly patterns: readonly MaskPattern[];
  /** The most bytes `scan` can hold back (a pattern wrapped at every byte with `\r\n`, minus one). */
  readonly maxHeldBytes: number;

  constructor(secrets: readonly string[]) {
    this.patterns = maskPatterns(secrets);
    let max = 0;
    for (const p of this.patterns) {
      const first = p.bytes[0]!;
      (this.byFirstByte[first] ??= []).push(p);
      max = Math.max(max, p.wrapped ? p.bytes.length * 3 - 2 : p.bytes.length);
    }
    this.maxHeldBytes = Math.max(0, max - 1);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /**
   * Masks `buf`. Unless `final`, a tail that could still grow into a pattern is not let
   * through (see `restFrom`): scanning it again with more bytes after it gives the same
   * result as scanning everything at once.
   */
  scan(buf: Uint8Array, final: boolean): ScanResult {
    const out: Uint8Array[] = [];
    let copiedFrom = 0;
    let masked = 0;
    let i = 0;
    while (i < buf.length) {
      const candidates = this.byFirstByte[buf[i]!];
      if (candidates) {
        let matched = 0;
        let wrapped = false;
        let maybeLonger = false;
        for (const p of candidates) {
          const m = matchAt(p, buf, i, final);
          if (m === PARTIAL) maybeLonger = true; // a longer pattern may still match: wait
          else if (m > 0) {
            matched = m;
            wrapped = p.wrapped && m > p.bytes.length;
            break; // longest first
          }
        }
        if (maybeLonger) {
          if (i > copiedFrom) out.push(buf.subarray(copiedFrom, i));
          return { out, restFrom: i, masked };
        }
        if (matched) {
          if (i > copiedFrom) out.push(buf.subarray(copiedFrom, i));
          out.push(MASK_BYTES);
          masked += 1;
          // The line breaks inside a wrapped match are kept, so the lines stay lines.
          if (wrapped) out.push(buf.subarray(i, i + matched).filter((b) => b === LF || b === CR));
          i += matched;
          copiedFrom = i;
          continue;
        }
      }
      i += 1;
    }
    if (copiedFrom < buf.length) out.push(buf.subarray(copiedFrom));
    return { out, restFrom: buf.length, masked };
  }

  /** Masks a whole text (an output value, a message). */
  maskText(text: string): string {
    if (this.empty || text === "") return text;
    const bytes = encoder.encode(text);
    const { out, masked } = this.scan(bytes, true);
    if (masked === 0) return text;
    // Every pattern starts on a character boundary and is replaced whole, so this decodes.
    return new TextDecoder().decode(concatBytes(out));
  }
}

/** `text` with every secret (and its forms) replaced by `***`. */
export function maskText(text: string, secrets: readonly string[]): string {
  return new SecretMask(secrets).maskText(text);
}

/**
 * Outputs as they may leave the agent or be stored: values masked; an output whose NAME holds
 * a secret is dropped (a warning, itself masked, says so), since a masked name could collide.
 */
export function maskOutputs(
  outputs: Readonly<Record<string, string>>,
  secrets: readonly string[] | SecretMask,
): { value: Record<string, string>; warnings: string[] } {
  const mask = secrets instanceof SecretMask ? secrets : new SecretMask(secrets);
  const value: Record<string, string> = {};
  const warnings: string[] = [];
  for (const [key, v] of Object.entries(outputs)) {
    const maskedKey = mask.maskText(key);
    if (maskedKey !== key) {
      warnings.push(`output "${maskedKey}" dropped: its name contains a secret`);
      continue;
    }
    value[key] = mask.maskText(v);
  }
  return { value, warnings };
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const PARTIAL = -1;

/** Bytes of `buf` from `i` that `p` matches; PARTIAL when `buf` ends inside a possible match. */
function matchAt(p: MaskPattern, buf: Uint8Array, i: number, final: boolean): number {
  const pat = p.bytes;
  let j = 0;
  let k = i;
  while (j < pat.length) {
    if (k >= buf.length) return final ? 0 : PARTIAL;
    const b = buf[k]!;
    if (b === pat[j]) {
      j += 1;
      k += 1;
      continue;
    }
    // One line break (LF or CRLF) between two characters of a wrapped pattern, never more.
    if (!p.wrapped || j === 0 || (b !== LF && b !== CR)) return 0;
    if (b === CR) {
      if (k + 1 >= buf.length) return final ? 0 : PARTIAL;
      if (buf[k + 1] !== LF) return 0;
      k += 2;
    } else k += 1;
    if (k >= buf.length) return final ? 0 : PARTIAL;
    if (buf[k] !== pat[j]) return 0;
  }
  return k - i;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * The secret's base64 as it appears at byte offset 0, 1 and 2 (mod 3) of a longer encoded
 * text: only the characters whose 6 bits all come from the secret (the others depend on
 * the neighbours). Plus the padded base64 of the secret alone.
 */
function base64Forms(raw: Uint8Array): string[] {
  const forms = [base64(raw)];
  for (let shift = 0; shift < 3; shift++) {
    const shifted = new Uint8Array(shift + raw.length);
    shifted.set(raw, shift);
    const start = Math.ceil((8 * shift) / 6);
    const end = Math.floor((8 * (shift + raw.length)) / 6);
    if (end > start) forms.push(base64(shifted).slice(start, end));
  }
  return forms;
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    s += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]!;
    s += i + 1 < bytes.length ? B64[(n >> 6) & 63]! : "=";
    s += i + 2 < bytes.length ? B64[n & 63]! : "=";
  }
  return s;
}

function toBase64Url(b64: string): string {
  return b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unicodeEscape(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}
