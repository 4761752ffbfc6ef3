/**
 * The engine's side of metric gates (domain/pipeline/gates.ts): when a job attempt ends well,
 * its gates are checked against its steps' metrics; a breach turns SUCCESS into WARNING (or
 * FAILED for a `fail: true` gate), with the reason `gate_breached` and a message naming each
 * breached metric, its value and the bound.
 */
import { evaluateGates } from "../pipeline/gates.ts";
import type { Reason, State } from "../states.ts";
import type { JobAttemptState, JobState } from "./model.ts";
import { jobDefinition } from "./jobs-graph.ts";
import type { Txn } from "./txn.ts";

export const GATE_BREACHED: Reason = "gate_breached";

/** The outcome after the job's gates, or null when no gate is breached. */
export function gateOutcome(
  txn: Txn,
  job: JobState,
  jobAttempt: JobAttemptState,
  outcome: State,
  baselines: Map<string, number[]>,
): { outcome: State; message: string } | null {
  if (outcome !== "SUCCESS" && outcome !== "WARNING") return null;
  const gates = jobDefinition(txn, job.key).gates ?? [];
  if (gates.length === 0) return null;
  const metrics = jobAttempt.steps.flatMap((s) => s.metrics.map((m) => ({ step: s.id, name: m.name, value: m.value })));
  const breaches = evaluateGates(gates, metrics, baselines);
  if (breaches.length === 0) return null;
  return { outcome: breaches.some((b) => b.fail) ? "FAILED" : "WARNING", message: breaches.map((b) => b.message).join("; ") };
}
