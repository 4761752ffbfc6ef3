/**
 * `type: approval` jobs (docs/state-machine.md, "Approvals"): once its needs and condition let
 * it run, such a job waits CREATED with `waitingOn: ["approval"]` — never queued, no agent —
 * until a person approves it (SUCCESS, the inputs become its outputs) or rejects it (FAILED,
 * reason `rejected`), or its timeout passes (FAILED, reason `timeout`). Either way it passes
 * through RUNNING, as the table requires, at the moment of the decision.
 */
import type { ApprovalSpec } from "../pipeline/types.ts";
import { refuse } from "./effects.ts";
import { endJobAttempt } from "./job-lifecycle.ts";
import { jobDefinition } from "./jobs-graph.ts";
import { AWAITING_APPROVAL, type JobState, latestJobAttempt } from "./model.ts";
import type { Txn } from "./txn.ts";


export type ApprovalDecision =
  | { approve: true; inputs: Record<string, unknown>; by: string }
  | { approve: false; reason: string | null; by: string };

/**
 * The inputs as the job's outputs: checked against the spec, defaults filled in, as strings. A
 * refusal's `details.input` names the input, so a form can show the message at its field.
 */
function approvedInputs(spec: ApprovalSpec, given: Record<string, unknown>): Record<string, string> {
  const outputs: Record<string, string> = {};
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(spec.inputs, name)) {
      const known = Object.keys(spec.inputs);
      refuse(400, "unknown_input", `no input "${name}"; ${known.length ? `the inputs are ${known.join(", ")}` : "this approval takes no inputs"}`, { input: name });
    }
  }
  for (const [name, input] of Object.entries(spec.inputs)) {
    const value = given[name];
    if (value === undefined || value === null) {
      if (input.default !== undefined) outputs[name] = input.default;
      else if (input.required) refuse(400, "missing_input", `input "${name}" is required`, { input: name });
      continue;
    }
    if (typeof value !== input.type || (typeof value === "number" && !Number.isFinite(value))) {
      refuse(400, "invalid_input", `input "${name}" must be a ${input.type}`, { input: name });
    }
    if (typeof value === "string" && value.length > 10_000) refuse(400, "invalid_input", `input "${name}" may be at most 10000 characters`, { input: name });
    outputs[name] = String(value);
  }
  return outputs;
}

/** Moves a waiting approval job on: through RUNNING to its end, and the run with it. */
function conclude(txn: Txn, job: JobState, outcome: "SUCCESS" | "FAILED", reason: string | null, message: string, by: string | null): void {
  const latest = latestJobAttempt(job)!;
  txn.moveJobAttempt(job, latest, "RUNNING");
  latest.startedAt = txn.now;
  if (txn.attempt.status === "CREATED") txn.moveAttempt("RUNNING");
  if (txn.state.run.status === "CREATED") txn.moveRun("RUNNING");
  latest.decidedBy = by;
  latest.message = message;
  endJobAttempt(txn, job, latest, outcome, reason);
}

/** A person approves or rejects the approval job `key` of the current attempt. */
export function decideApproval(txn: Txn, key: string, decision: ApprovalDecision): JobState {
  const shared = txn.attempt.jobs.find((j) => j.key === key);
  if (!shared) refuse(404, "job_not_found", `the current attempt of run #${txn.state.run.number} has no job "${key}"`);
  const spec = jobDefinition(txn, key).approval;
  if (!spec) refuse(409, "job_not_approval", `job "${key}" is not an approval job`);
  const latest = latestJobAttempt(shared);
  if (!latest || latest.status !== "CREATED" || shared.waitingOn.join() !== AWAITING_APPROVAL) {
    const why = latest?.status === "CREATED" ? `still waits on ${shared.waitingOn.join(", ")}` : `is ${latest?.status ?? "kept from an earlier attempt"}`;
    refuse(409, "job_not_awaiting_approval", `job "${key}" ${why}; only a job waiting for approval can be approved or rejected`);
  }
  const job = txn.own(shared);
  if (decision.approve) {
    job.outputs = approvedInputs(spec, decision.inputs);
    conclude(txn, job, "SUCCESS", null, `approved by ${decision.by}`, decision.by);
  } else {
    const reason = decision.reason ? `: ${decision.reason.slice(0, 1000)}` : "";
    conclude(txn, job, "FAILED", "rejected", `rejected by ${decision.by}${reason}`, decision.by);
  }
  return job;
}

/** The clock's part: an approval nobody decided within its timeout fails. */
export function expireApproval(txn: Txn, job: JobState, timeoutMs: number): void {
  conclude(txn, txn.own(job), "FAILED", "timeout", `no one approved or rejected it within ${Math.round(timeoutMs / 1000)} s`, null);
}
