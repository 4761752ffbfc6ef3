/**
 * Metric gates (issue 21, docs/pipelines.md "Metric gates"): a job's `gates:` bound its steps'
 * metrics, by fixed `max`/`min` or against a `baseline` of the job's last N successful runs on
 * the same branch. Evaluated when the job ends successfully; a breach makes it WARNING (or
 * FAILED with `fail: true`) with a message naming the metric, the value and the bound.
 * Pure: the run's object reads the baseline values from D1 and hands them in.
 */
import { z } from "zod";

const METRIC = /^[A-Za-z_][A-Za-z0-9_-]*\.[^\s.][^\s]*$/;

const Tolerance = z
  .string()
  .regex(/^\d+(\.\d+)?%$/, "a tolerance is a percentage, e.g. \"10%\"")
  .transform((s) => Number(s.slice(0, -1)) / 100);

export const GatesSchema = z
  .array(
    z
      .object({
        metric: z.string().regex(METRIC, "a gate's metric is `<step id>.<metric name>`, e.g. `test.coverage`"),
        max: z.number().optional(),
        min: z.number().optional(),
        baseline: z.object({ runs: z.int().min(1).max(50), tolerance: Tolerance }).strict().optional(),
        fail: z.boolean().optional(),
      })
      .strict()
      .refine((g) => g.max !== undefined || g.min !== undefined || g.baseline !== undefined, "a gate needs `max`, `min` or `baseline`"),
  )
  .max(50, "at most 50 gates");

export interface MetricGate {
  /** `<step id>.<metric name>` as written. */
  metric: string;
  step: string;
  name: string;
  max: number | null;
  min: number | null;
  /** Tolerance as a fraction (10% → 0.1). */
  baseline: { runs: number; tolerance: number } | null;
  fail: boolean;
}

export function normaliseGates(gates: z.output<typeof GatesSchema> | null | undefined): MetricGate[] {
  return (gates ?? []).map((g) => {
    const dot = g.metric.indexOf(".");
    return {
      metric: g.metric,
      step: g.metric.slice(0, dot),
      name: g.metric.slice(dot + 1),
      max: g.max ?? null,
      min: g.min ?? null,
      baseline: g.baseline ?? null,
      fail: g.fail ?? false,
    };
  });
}

export interface GateBreach {
  metric: string;
  value: number;
  fail: boolean;
  /** e.g. "gate build.size: 130 is above the max 100". */
  message: string;
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : String(Number(n.toFixed(4))));

/**
 * The breaches of `gates` by the job's step metrics. A metric the job did not report breaches
 * nothing (the gate cannot be evaluated; said nowhere but the docs). A baseline gate with
 * fewer than `runs` earlier values is not evaluated. `baselines` maps a gate's metric to the
 * values of the job's last successful runs on the branch, newest first.
 */
export function evaluateGates(
  gates: MetricGate[],
  metrics: { step: string; name: string; value: number }[],
  baselines: Map<string, number[]>,
): GateBreach[] {
  const breaches: GateBreach[] = [];
  for (const gate of gates) {
    const found = metrics.find((m) => m.step === gate.step && m.name === gate.name);
    if (!found) continue;
    const value = found.value;
    const breach = (bound: string) => breaches.push({ metric: gate.metric, value, fail: gate.fail, message: `gate ${gate.metric}: ${fmt(value)} is ${bound}` });
    if (gate.max !== null && value > gate.max) breach(`above the max ${fmt(gate.max)}`);
    else if (gate.min !== null && value < gate.min) breach(`below the min ${fmt(gate.min)}`);
    else if (gate.baseline) {
      const past = (baselines.get(gate.metric) ?? []).slice(0, gate.baseline.runs);
      if (past.length < gate.baseline.runs) continue;
      const mean = past.reduce((a, b) => a + b, 0) / past.length;
      const allowed = Math.abs(mean) * gate.baseline.tolerance;
      if (Math.abs(value - mean) > allowed) {
        breach(`${value > mean ? "above" : "below"} the baseline ${fmt(mean)} ± ${fmt(gate.baseline.tolerance * 100)}% (mean of the last ${past.length} successful runs)`);
      }
    }
  }
  return breaches;
}
