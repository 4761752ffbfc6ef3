import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Masker } from "../../../agent/masker.ts";

function maskAll(secrets: string[], chunks: Buffer[]): Buffer {
  const m = new Masker(secrets);
  return Buffer.concat([...chunks.map((c) => m.push(c)), m.end()]);
}

function splitEvery(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

describe("Masker", () => {
  it("masks a secret and its base64", () => {
    const secret = "hunter2-s3cr3t";
    const b64 = Buffer.from(secret).toString("base64");
    const out = maskAll([secret], [Buffer.from(`pass=${secret} enc=${b64}\n`)]);
    expect(out.toString()).toBe("pass=*** enc=***\n");
  });

  it("masks a secret split at every possible point across writes", () => {
    const secret = "ABCDEFGHIJ";
    const text = Buffer.from(`xx${secret}yy${secret}`);
    for (let cut = 0; cut <= text.length; cut++) {
      const out = maskAll([secret], [text.subarray(0, cut), text.subarray(cut)]);
      expect(out.toString()).toBe("xx***yy***");
    }
    expect(maskAll([secret], splitEvery(text, 1)).toString()).toBe("xx***yy***");
  });

  it("holds back at most the longest secret minus one byte", () => {
    const m = new Masker(["abcdef"]);
    expect(m.push(Buffer.from("hello abc")).toString()).toBe("hello ");
    expect(m.heldBytes).toBe(3);
    expect(m.push(Buffer.from("x")).toString()).toBe("abcx");
    expect(m.heldBytes).toBe(0);
    expect(m.push(Buffer.from("abcde")).toString()).toBe("");
    expect(m.end().toString()).toBe("abcde");
  });

  it("prefers the longest secret at a position", () => {
    expect(maskAll(["abc", "abcdef"], [Buffer.from("1abcdef2abcx")]).toString()).toBe("1***2***x");
    expect(maskAll(["abc", "abcdef"], [Buffer.from("1abcd"), Buffer.from("ef2")]).toString()).toBe("1***2");
  });

  it("keeps invalid UTF-8 and ANSI bytes exactly, and masks non-ASCII secrets", () => {
    const raw = Buffer.from([0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xff, 0xfe, 0xc3, 0x28, 0x0a]);
    expect(maskAll(["zzz"], [raw]).equals(raw)).toBe(true);
    const secret = "pässwörd✓";
    const input = Buffer.concat([raw, Buffer.from(secret), raw]);
    expect(maskAll([secret], splitEvery(input, 3)).equals(Buffer.concat([raw, Buffer.from("***"), raw]))).toBe(true);
  });

  it("ignores empty secrets and passes everything through without secrets", () => {
    const m = new Masker(["", ""]);
    expect(m.push(Buffer.from("abc")).toString()).toBe("abc");
    expect(m.heldBytes).toBe(0);
  });

  it("masks the lines of a multi-line secret", () => {
    const key = "-----BEGIN KEY-----\nMIIBOgIBAAJBAK\n-----END KEY-----";
    expect(maskAll([key], [Buffer.from("line: MIIBOgIBAAJBAK\n")]).toString()).toBe("line: ***\n");
  });

  it("property: streaming equals one-shot, and no secret survives, whatever the split", () => {
    const alphabet = fc.constantFrom(..."abcs3\n\x1b");
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: alphabet, minLength: 2, maxLength: 6 }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.oneof(fc.string({ unit: alphabet, maxLength: 8 }), fc.constant("<S>")), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 10 }),
        (secrets, pieces, sizes) => {
          const text = pieces.map((p, i) => (p === "<S>" ? secrets[i % secrets.length]! : p)).join("");
          const input = Buffer.from(text);
          const whole = maskAll(secrets, [input]);
          const chunks: Buffer[] = [];
          for (let i = 0, k = 0; i < input.length; k++) {
            const n = sizes[k % sizes.length]!;
            chunks.push(input.subarray(i, i + n));
            i += n;
          }
          const streamed = maskAll(secrets, chunks);
          expect(streamed.toString()).toBe(whole.toString());
          // Whatever was written, a masked output never contains a secret… unless the
          // replacement itself and its neighbours form one (secrets made of '*' are not generated).
          for (const s of secrets) expect(streamed.includes(Buffer.from(s))).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });
});

/** Every way of cutting `input` in two, and byte by byte: the same result as one write. */
function expectSameAtEveryCut(secrets: string[], input: Buffer): Buffer {
  const whole = maskAll(secrets, [input]);
  for (let cut = 0; cut <= input.length; cut++) {
    expect(maskAll(secrets, [input.subarray(0, cut), input.subarray(cut)]).equals(whole), `cut at ${cut}`).toBe(true);
  }
  expect(maskAll(secrets, splitEvery(input, 1)).equals(whole)).toBe(true);
  return whole;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");
const B64_RUN = "[A-Za-z0-9+/=]";

/**
 * What may survive of `base64(prefix + secret + suffix)`: only the characters that carry a
 * bit of the neighbours (before: the prefix's, after: the suffix's and the padding).
 */
function expectOnlyNeighboursSurvive(masked: string, prefix: string, secret: string, suffix: string): void {
  const p = Buffer.byteLength(prefix);
  const l = Buffer.byteLength(secret);
  const total = b64(prefix + secret + suffix).length;
  const before = Math.ceil((8 * p) / 6);
  const after = total - Math.floor((8 * (p + l)) / 6);
  expect(masked, `prefix ${JSON.stringify(prefix)}, suffix ${JSON.stringify(suffix)}`).toMatch(new RegExp(`^${B64_RUN}{0,${before}}\\*\\*\\*${B64_RUN}{0,${after}}$`));
}

describe("Masker: encodings (GitHub's runner is the reference)", () => {
  const secret = "Zq8-hunter2/very+secret";

  it("masks base64 at all three byte alignments: a secret inside other bytes (docker's auth = base64(user:secret))", () => {
    const auth = b64(`user:${secret}`);
    const masked = maskAll([secret], [Buffer.from(`{"auths":{"r.io":{"auth":"${auth}"}}}`)]).toString();
    expect(masked).not.toContain(auth);
    expectOnlyNeighboursSurvive(/"auth":"([^"]*)"/.exec(masked)![1]!, "user:", secret, "");
    for (const prefix of ["", "u", "us", "use", "user:", "ü"]) {
      for (const suffix of ["", "\n", "x", "xy", "@host"]) {
        const text = b64(prefix + secret + suffix);
        expectOnlyNeighboursSurvive(maskAll([secret], [Buffer.from(text)]).toString(), prefix, secret, suffix);
      }
    }
  });

  it("masks wrapped base64: 58- and 100-byte secrets through the real `base64` (76 columns), alone and after a prefix", () => {
    for (const length of [58, 100]) {
      const long = Array.from({ length }, (_, i) => "abcdefghijklmnopqrstuvwxyz0123456789-_"[(i * 7) % 38]).join("");
      for (const prefix of ["", "user:", "ab"]) {
        const wrapped = execFileSync("base64", { input: prefix + long }).toString();
        expect(wrapped.trimEnd()).toContain("\n"); // really wrapped over lines
        const masked = maskAll([long], [Buffer.from(wrapped)]).toString();
        // The lines stay lines; what is left (the line breaks taken out) is only the neighbours.
        expect(masked.split("\n").length).toBe(wrapped.split("\n").length);
        expectOnlyNeighboursSurvive(masked.replace(/\n/g, ""), prefix, long, "");
        // …also when the log arrives in pieces, cut anywhere, and with CRLF line ends.
        expect(expectSameAtEveryCut([long], Buffer.from(wrapped)).toString()).toBe(masked);
        expect(maskAll([long], [Buffer.from(wrapped.replace(/\n/g, "\r\n"))]).toString()).toBe(masked.replace(/\n/g, "\r\n"));
      }
    }
  });

  it("masks the URL-encoded, JSON-escaped and XML-escaped forms", () => {
    const s = `p@ss w/rd&<x>"q'ü+%`;
    const forms = [
      encodeURIComponent(s),
      encodeURIComponent(s).replace(/%20/g, "+"),
      encodeURIComponent(s).replace(/'/g, "%27"),
      JSON.stringify(s).slice(1, -1),
      JSON.stringify(s).slice(1, -1).replace(/ü/g, "\\u00fc"), // Python's json.dumps
      JSON.stringify(s).slice(1, -1).replace(/&/g, "\\u0026").replace(/</g, "\\u003c").replace(/>/g, "\\u003e"), // Go
      s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;"),
      s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;"),
    ];
    for (const form of forms) {
      const masked = maskAll([s], [Buffer.from(`url=https://me:${form}@example.com/x\n`)]).toString();
      expect(masked, form).toBe("url=https://me:***@example.com/x\n");
    }
    // All of them in one log, cut at every byte.
    const text = Buffer.from(forms.map((f, i) => `${i}:${f}\n`).join("") + `${b64(`user:${s}`)}\n`);
    const out = expectSameAtEveryCut([s], text).toString();
    for (const form of forms) expect(out).not.toContain(form);
    expect(out.match(/\*\*\*/g)).toHaveLength(forms.length + 1);
  });

  it("does not mask derived forms shorter than 6 bytes: a short secret's base64 is left alone, the secret is not", () => {
    expect(maskAll(["abc"], [Buffer.from("abc YWJj abc")]).toString()).toBe("*** YWJj ***");
    // A 4-byte secret: its padded base64 (8 characters) is masked, its 4-character middle at
    // alignment 1 is not (so base64("u" + secret) shows).
    expect(maskAll(["key1"], [Buffer.from(`${b64("key1")} ${b64("ukey1")}`)]).toString()).toBe(`*** ${b64("ukey1")}`);
  });

  it("property: base64 around a secret at any alignment, streamed in random pieces, never shows the secret's stable middle", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 6, maxLength: 40 }),
        fc.string({ maxLength: 5 }),
        fc.string({ maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 }),
        (s, prefix, suffix, sizes) => {
          const input = Buffer.from(`x ${b64(prefix + s + suffix)} y`);
          const chunks: Buffer[] = [];
          for (let i = 0, k = 0; i < input.length; k++) {
            chunks.push(input.subarray(i, i + sizes[k % sizes.length]!));
            i += sizes[k % sizes.length]!;
          }
          const m = new Masker([s]);
          const parts: Buffer[] = [];
          for (const c of chunks) {
            parts.push(m.push(c));
            expect(m.heldBytes).toBeLessThanOrEqual(m.maxHeldBytes);
          }
          parts.push(m.end());
          const out = Buffer.concat(parts).toString();
          expect(out).toBe(maskAll([s], [input]).toString());
          expectOnlyNeighboursSurvive(out.slice(2, -2), prefix, s, suffix);
        },
      ),
      { numRuns: 300 },
    );
  });
});
