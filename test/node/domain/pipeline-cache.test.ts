/** `cache:` on a job (issue 18): parsed, checked, and rendered into the assignment but for hashFiles. */
import { describe, expect, it } from "vitest";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";

const file = (cache: string) => `
params:
  flavour: { default: fast }
jobs:
  build:
    runs-on: linux
${cache}
    steps:
      - run: make
`;

describe("cache: in a pipeline", () => {
  it("normalises one entry or a list, paths and restore keys to lists", () => {
    const result = parsePipeline(
      file(`    cache:
      key: deps-\${{ params.flavour }}-\${{ hashFiles('package-lock.json', "a/*.lock") }}
      paths: node_modules
      restore-keys: deps-\${{ params.flavour }}-`),
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.pipeline.jobs[0]!.caches).toEqual([
      { key: "deps-${{ params.flavour }}-${{ hashFiles('package-lock.json', \"a/*.lock\") }}", paths: ["node_modules"], restoreKeys: ["deps-${{ params.flavour }}-"] },
    ]);
  });

  it("refuses step outputs and unknown params in a key, paths leaving the work dir, and too many entries", () => {
    const messages = (text: string) => {
      const r = parsePipeline(text);
      return r.ok ? [] : r.problems.map((p) => p.message);
    };
    expect(messages(file("    cache:\n      key: x-${{ steps.a.outputs.b }}\n      paths: out"))).toEqual([
      expect.stringMatching(/rendered before the first step/),
    ]);
    expect(messages(file("    cache:\n      key: x-${{ params.nope }}\n      paths: out"))[0]).toMatch(/unknown param "nope"/);
    expect(messages(file("    cache:\n      key: x\n      paths: ../up"))[0]).toMatch(/may not contain '\.\.'/);
    const eleven = Array.from({ length: 11 }, (_, i) => `      - { key: k${i}, paths: p }`).join("\n");
    expect(messages(file(`    cache:\n${eleven}`))[0]).toMatch(/at most 10 caches/);
  });
});
