// Metric gates: parsed from `gates:` on a job; evaluated when the job ends against fixed bounds
// or a baseline of earlier runs (too few runs: no gate); a breach makes the job WARNING, or
// FAILED with `fail: true`, with a message naming the metric, the value and the bound.
import { describe, expect, it } from "vitest";
import { engine } from "../../../domain/run-engine/index.ts";
import { evaluateGates, normaliseGates } from "../../../domain/pipeline/gates.ts";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";
import { EngineDriver } from "../../support/engine-driver.ts";
import { job, pipeline, step } from "../../support/pipelines.ts";

const gate = (g: Parameters<typeof normaliseGates>[0]) => normaliseGates(g);
const metric = (value: number) => [{ step: "test", name: "coverage", value }];

describe("evaluateGates", () => {
  it("checks fixed bounds", () => {
    const gates = gate([{ metric: "test.coverage", min: 80 }, { metric: "test.coverage", max: 99, fail: true }]);
    expect(evaluateGates(gates, metric(85), new Map())).toEqual([]);
    expect(evaluateGates(gates, metric(79.5), new Map())).toEqual([{ metric: "test.coverage", value: 79.5, fail: false, message: "gate test.coverage: 79.5 is below the min 80" }]);
    expect(evaluateGates(gates, metric(100), new Map())).toMatchObject([{ fail: true, message: "gate test.coverage: 100 is above the max 99" }]);
  });

  it("compares with the mean of the last N runs, within the tolerance; too few runs: no gate", () => {
    const gates = gate([{ metric: "test.coverage", baseline: { runs: 3, tolerance: 0.1 } }]);
    const past = new Map([["test.coverage", [100, 90, 110, 5000]]]);
    expect(evaluateGates(gates, metric(109), past)).toEqual([]);
    expect(evaluateGates(gates, metric(111), past)[0]!.message).toBe("gate test.coverage: 111 is above the baseline 100 ± 10% (mean of the last 3 successful runs)");
    expect(evaluateGates(gates, metric(80), past)[0]!.message).toContain("is below the baseline 100");
    expect(evaluateGates(gates, metric(1), new Map([["test.coverage", [100, 90]]]))).toEqual([]);
  });

  it("ignores a metric the job did not report", () => {
    expect(evaluateGates(gate([{ metric: "test.coverage", min: 1 }]), [], new Map())).toEqual([]);
  });
});

describe("gates in the pipeline file", () => {
  const file = (gates: string) => `jobs:\n  unit:\n    runs-on: [linux]\n    steps:\n      - id: test\n        run: npm test\n    gates:\n${gates}`;

  it("are parsed onto the job", () => {
    const parsed = parsePipeline(file(`      - metric: test.coverage\n        min: 80\n      - metric: test.duration\n        baseline: { runs: 5, tolerance: "20%" }\n        fail: true\n`), { name: "p" });
    expect(parsed.ok && parsed.pipeline.jobs[0]!.gates).toEqual([
      { metric: "test.coverage", step: "test", name: "coverage", max: null, min: 80, baseline: null, fail: false },
      { metric: "test.duration", step: "test", name: "duration", max: null, min: null, baseline: { runs: 5, tolerance: 0.2 }, fail: true },
    ]);
    const plain = parsePipeline("jobs:\n  unit:\n    runs-on: [linux]\n    steps:\n      - run: x\n", { name: "p" });
    expect(plain.ok && "gates" in plain.pipeline.jobs[0]!).toBe(false);
  });

  it("refuse an unknown step, a gate without a bound and a bad tolerance, at their line", () => {
    const unknownStep = parsePipeline(file("      - metric: build.size\n        max: 3\n"), { name: "p" });
    expect(unknownStep.ok).toBe(false);
    expect(!unknownStep.ok && unknownStep.problems[0]).toMatchObject({ line: 8 });
    expect(!unknownStep.ok && unknownStep.problems[0]!.message).toContain("build");
    const noBound = parsePipeline(file("      - metric: test.coverage\n"), { name: "p" });
    expect(!noBound.ok && noBound.problems.map((p) => p.message).join()).toContain("needs `max`, `min` or `baseline`");
    const tolerance = parsePipeline(file("      - metric: test.coverage\n        baseline: { runs: 3, tolerance: ten }\n"), { name: "p" });
    expect(!tolerance.ok && tolerance.problems.map((p) => p.message).join()).toContain("percentage");
  });
});

describe("gates in the run engine", () => {
  const gated = (gates: Parameters<typeof normaliseGates>[0]) =>
    new EngineDriver(pipeline([job("unit", [], { steps: [step("test")], gates: normaliseGates(gates) })]));
  const run = (d: EngineDriver, coverage: number, baselines?: Map<string, number[]>) => {
    d.assign("unit");
    d.step("unit", "test", "RUNNING");
    d.step("unit", "test", "SUCCESS", 1, { metrics: [{ name: "coverage", kind: "counter", value: coverage }] });
    return d.apply(engine.finishJob(d.state, d.ctx(), d.latest("unit").id, { status: "SUCCESS", outputs: {} }, baselines));
  };

  it("turns a breach into WARNING with the reason and a message naming metric, value and bound", () => {
    const d = gated([{ metric: "test.coverage", min: 80 }]);
    run(d, 70);
    expect(d.latest("unit")).toMatchObject({ status: "WARNING", reason: "gate_breached", message: "gate test.coverage: 70 is below the min 80" });
    expect(d.state.run.status).toBe("WARNING");
  });

  it("fails the job for `fail: true`; passes when within bounds", () => {
    const d = gated([{ metric: "test.coverage", min: 80, fail: true }]);
    run(d, 70);
    expect(d.latest("unit")).toMatchObject({ status: "FAILED", reason: "gate_breached" });
    const ok = gated([{ metric: "test.coverage", min: 80, fail: true }]);
    run(ok, 90);
    expect(ok.latest("unit")).toMatchObject({ status: "SUCCESS", reason: null });
  });

  it("uses the baselines it is handed; with too few earlier runs there is no gate", () => {
    const d = gated([{ metric: "test.coverage", baseline: { runs: 2, tolerance: 0.05 }, fail: true }]);
    run(d, 70, new Map([["test.coverage", [90, 92]]]));
    expect(d.latest("unit")).toMatchObject({ status: "FAILED", message: expect.stringContaining("below the baseline 91") });
    const few = gated([{ metric: "test.coverage", baseline: { runs: 2, tolerance: 0.05 }, fail: true }]);
    run(few, 70, new Map([["test.coverage", [90]]]));
    expect(few.latest("unit").status).toBe("SUCCESS");
  });
});
