import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Masker } from "../../../agent/masker.ts";
import { maskForms, maskOutputs, maskText, MIN_DERIVED_BYTES } from "../../../domain/masking.ts";

/** The rules the server applies to whole values (outputs) are the agent's log rules. */
describe("domain/masking: whole values", () => {
  const secret = "s3cr3t-Üñí/+value";

  it("maskText masks the secret and its encodings, and leaves other text as it is", () => {
    const b64 = Buffer.from(`user:${secret}`).toString("base64");
    expect(maskText(`a ${secret} b`, [secret])).toBe("a *** b");
    expect(maskText(`auth=${b64}`, [secret])).toMatch(/^auth=dXNlcj\w?\*\*\*[\w=]{0,3}$/);
    expect(maskText(`q=${encodeURIComponent(secret)}&j=${JSON.stringify(secret)}`, [secret])).toBe('q=***&j="***"');
    expect(maskText("nothing here", [secret])).toBe("nothing here");
    expect(maskText("anything", [])).toBe("anything");
  });

  it("every derived form is at least MIN_DERIVED_BYTES long; the secret itself whatever its length", () => {
    for (const s of ["a", "ab", "abcd", secret, "line one\nline two is long\n"]) {
      const [first, ...derived] = maskForms(s);
      expect(first!.text).toBe(s);
      for (const f of derived) expect(Buffer.byteLength(f.text)).toBeGreaterThanOrEqual(MIN_DERIVED_BYTES);
    }
  });

  it("maskOutputs masks values and drops an output whose name holds a secret (the warning masked too)", () => {
    const r = maskOutputs({ token: `Bearer ${secret}`, [`k_${secret}`]: "v", plain: "1.2.3" }, [secret]);
    expect(r.value).toEqual({ token: "Bearer ***", plain: "1.2.3" });
    expect(r.warnings).toEqual(['output "k_***" dropped: its name contains a secret']);
  });

  it("property: maskText gives what the streaming log masker gives for the same text", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes("*")), { minLength: 1, maxLength: 3 }), fc.array(fc.string(), { maxLength: 6 }), (secrets, pieces) => {
        const text = pieces.map((p, i) => `${p}${i % 2 ? Buffer.from(secrets[i % secrets.length]!).toString("base64") : secrets[i % secrets.length]}`).join("");
        const m = new Masker(secrets);
        const streamed = Buffer.concat([m.push(Buffer.from(text)), m.end()]).toString();
        expect(maskText(text, secrets)).toBe(streamed);
        for (const s of secrets) expect(maskText(text, secrets)).not.toContain(s);
      }),
      { numRuns: 300 },
    );
  });
});
