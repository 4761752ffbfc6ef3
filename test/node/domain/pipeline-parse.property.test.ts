/**
 * The parser's properties over random input: whatever the text, it answers a pipeline or a list
 * of problems with a message, a line and a column — it never throws.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";
import type { ParseResult } from "../../../domain/pipeline/types.ts";
import { DESIGN_EXAMPLE } from "./pipeline-fixtures.ts";

describe("properties", () => {
  const isResult = (result: ParseResult) => {
    expect(typeof result.ok).toBe("boolean");
    if (!result.ok) {
      expect(result.problems.length).toBeGreaterThan(0);
      for (const p of result.problems) {
        expect(typeof p.message).toBe("string");
        expect(Number.isInteger(p.line) && p.line >= 0).toBe(true);
        expect(Number.isInteger(p.column) && p.column >= 0).toBe(true);
      }
    }
  };

  it("never throws on random text", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 300 }), (text) => isResult(parsePipeline(text))), { numRuns: 500 });
  });

  it("never throws on random edits of a valid file", () => {
    const edits = fc.array(fc.tuple(fc.nat(DESIGN_EXAMPLE.length), fc.nat(5), fc.string({ maxLength: 6 })), { maxLength: 4 });
    fc.assert(
      fc.property(edits, (list) => {
        let text = DESIGN_EXAMPLE;
        for (const [at, cut, insert] of list) text = text.slice(0, at) + insert + text.slice(at + cut);
        isResult(parsePipeline(text));
      }),
      { numRuns: 500 },
    );
  });

  it("never throws on random YAML documents", () => {
    fc.assert(
      fc.property(fc.anything({ maxDepth: 4 }), fc.boolean(), (value, wrap) => {
        const text = stringify(wrap ? { jobs: { a: value } } : value);
        isResult(parsePipeline(text));
      }),
      { numRuns: 300 },
    );
  });
});
