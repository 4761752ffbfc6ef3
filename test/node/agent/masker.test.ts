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
