// Issue 13, item 6: a pipeline is bounded after its YAML aliases are expanded, not only as a
// file: small files that expand to megabytes are refused, naming the limit, and quickly.
import { describe, expect, it } from "vitest";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";
import { PIPELINE_DEFAULTS } from "../../../domain/pipeline/types.ts";
import { longValueBomb, reusedStepsBomb, wideJobsBomb } from "../../support/expansion-bombs.ts";

const refusal = (text: string) => {
  const result = parsePipeline(text);
  expect(result.ok).toBe(false);
  return result.ok ? "" : result.problems.map((p) => p.message).join("\n");
};

describe("expanded size", () => {
  for (const [name, bomb] of [["wide: 1,000 jobs × 200 steps", wideJobsBomb], ["long values", longValueBomb], ["a reused step list", reusedStepsBomb]] as const) {
    it(`refuses ${name}, naming the limit`, () => {
      const text = bomb();
      expect(new TextEncoder().encode(text).byteLength).toBeLessThanOrEqual(PIPELINE_DEFAULTS.maxFileBytes);
      expect(refusal(text)).toContain(`maxExpandedSize = ${PIPELINE_DEFAULTS.maxExpandedSize}`);
    });
  }

  it("takes files with a few aliases, and large files without any", () => {
    const shared = "jobs:\n  a: &a\n    runs-on: [linux]\n    steps: [{ run: echo }]\n  b: *a\n  c: *a\n";
    expect(parsePipeline(shared).ok).toBe(true);
    // 150 KB of distinct steps: large, but nothing expands.
    const steps = Array.from({ length: 200 }, (_, i) => `      - run: echo ${String(i).padEnd(60, "q")}\n`).join("");
    const jobs = Array.from({ length: 10 }, (_, j) => `  j${j}:\n    runs-on: [linux]\n    steps:\n${steps}`).join("");
    const large = `jobs:\n${jobs}`;
    expect(large.length).toBeGreaterThan(140_000);
    const result = parsePipeline(large);
    expect(result.ok ? "" : result.problems[0]!.message).toBe("");
  });

  it("refuses a pipeline whose normalised form would outgrow a stored row, naming the limit", () => {
    // Short steps grow when normalised (ids, defaults): 60 jobs × 200 steps of `- run: e`.
    const steps = "      - run: e\n".repeat(200);
    const text = `jobs:\n${Array.from({ length: 60 }, (_, j) => `  j${j}:\n    runs-on: [l]\n    steps:\n${steps}`).join("")}`;
    expect(new TextEncoder().encode(text).byteLength).toBeLessThanOrEqual(PIPELINE_DEFAULTS.maxFileBytes);
    expect(refusal(text)).toContain(`maxDefinitionBytes = ${PIPELINE_DEFAULTS.maxDefinitionBytes}`);
  });
});
