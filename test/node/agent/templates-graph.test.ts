import { describe, expect, it } from "vitest";
import { runStepGraph, type GraphStep, type StepFinal } from "../../../agent/step-graph.ts";
import { resolveStepTemplates } from "../../../agent/templates.ts";

describe("step templates", () => {
  const outputs = new Map([["build", { version: "1.2.3", "dotted.key": "d" }]]);
  const known = new Set(["build", "later"]);
  it("resolves steps.*.outputs.*; leaves everything else as written", () => {
    expect(resolveStepTemplates("v=${{ steps.build.outputs.version }}", outputs, known)).toBe("v=1.2.3");
    // Output keys are identifiers (the pipeline parser refuses dotted ones): left as written.
    expect(resolveStepTemplates("${{steps.build.outputs.dotted.key}}", outputs, known)).toBe("${{steps.build.outputs.dotted.key}}");
    expect(resolveStepTemplates("${{ steps.build.outputs.missing }}|${{ steps.later.outputs.x }}", outputs, known)).toBe("|");
    expect(resolveStepTemplates("${{ steps.other.outputs.x }} ${{ needs.a.outputs.b }} ${{ env.X }}", outputs, known)).toBe(
      "${{ steps.other.outputs.x }} ${{ needs.a.outputs.b }} ${{ env.X }}",
    );
  });
});

describe("step graph", () => {
  const step = (id: string, needs: string[] = [], continueOnError = false): GraphStep => ({ id, needs, continueOnError });

  async function run(steps: GraphStep[], results: Record<string, StepFinal>, stopAfter?: string) {
    const order: string[] = [];
    const skipped: Record<string, string> = {};
    let stop: string | null = null;
    const done = await runStepGraph(steps, {
      run: async (s) => {
        order.push(s.id);
        await new Promise((r) => setTimeout(r, 5));
        if (s.id === stopAfter) stop = "cancelled";
        return results[s.id] ?? "SUCCESS";
      },
      skip: (s, reason) => {
        skipped[s.id] = reason;
      },
      stopReason: () => stop,
    });
    return { order, skipped, done };
  }

  it("runs by needs; a failed need skips its dependants transitively", async () => {
    const r = await run([step("a"), step("b", ["a"]), step("c", ["b"]), step("d", ["a"]), step("e")], { b: "FAILED" });
    expect(r.order.indexOf("a")).toBeLessThan(r.order.indexOf("b"));
    expect(r.skipped).toEqual({ c: "needs_failed" });
    expect(r.done.get("d")?.status).toBe("SUCCESS");
  });

  it("a failure with continueOnError still meets its dependants' needs", async () => {
    const r = await run([step("a", [], true), step("b", ["a"])], { a: "FAILED" });
    expect(r.skipped).toEqual({});
    expect(r.order).toEqual(["a", "b"]);
  });

  it("unknown needs and cycles do not hang", async () => {
    const r = await run([step("a", ["ghost"]), step("b", ["c"]), step("c", ["b"]), step("d")], {});
    expect(r.skipped).toEqual({ a: "needs_failed", b: "needs_failed", c: "needs_failed" });
    expect(r.order).toEqual(["d"]);
  });

  it("a stop skips everything not started with the stop's reason", async () => {
    const r = await run([step("a"), step("b", ["a"]), step("c", ["b"])], {}, "a");
    expect(r.skipped).toEqual({ b: "cancelled", c: "cancelled" });
  });
});
