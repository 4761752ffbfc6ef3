/**
 * A job attempt's life on an agent: claimed, steps reported, heartbeats, finished. Each
 * function is one engine command (see ./index.ts for how they are called).
 */
import { type JobFinish, OUTPUT_LIMITS, outputsBytes, type StepUpdate } from "../protocol.ts";
import { isTerminal, type State } from "../states.ts";
import { refuse } from "./effects.ts";
import { addJobAttempt, enqueueReadyJobs, finishAttemptIfDone, jobDefinition, killStepNotRun } from "./jobs-graph.ts";
import { retryDecision } from "./retry-policy.ts";
import { type JobAttemptState, type JobState, jobQueue, type StepState } from "./model.ts";
import type { Txn } from "./txn.ts";
import { GATE_BREACHED, gateOutcome } from "./gates.ts";

function locate(txn: Txn, jobAttemptId: string): { job: JobState; jobAttempt: JobAttemptState } {
  const found = txn.findJobAttempt(jobAttemptId);
  if (!found) refuse(404, "job_attempt_not_found", `job attempt ${jobAttemptId} is not part of the current attempt of this run`);
  return found;
}

/** A job attempt that has ended accepts nothing more from its agent. */
function requireLive(jobAttempt: JobAttemptState): void {
  if (isTerminal(jobAttempt.status)) {
    refuse(410, "job_ended", `job attempt ${jobAttempt.id} has ended (${jobAttempt.status}); it accepts no more updates`);
  }
  if (jobAttempt.status === "CREATED") refuse(409, "job_not_claimed", `job attempt ${jobAttempt.id} has not been claimed`);
}

export interface AssignInput {
  jobAttemptId: string;
  agentId: string;
  agentName: string;
  tokenHash: string;
}

/** The dispatcher hands a queued job attempt to an agent: it starts RUNNING on that agent. */
export function assignJob(txn: Txn, input: AssignInput): { job: JobState; jobAttempt: JobAttemptState } {
  const { job, jobAttempt } = locate(txn, input.jobAttemptId);
  if (jobAttempt.status !== "CREATED") {
    refuse(409, "job_not_claimable", `job attempt ${jobAttempt.id} is ${jobAttempt.status}, not waiting for an agent`);
  }
  if (job.waitingOn.length > 0) refuse(409, "job_not_ready", `job ${job.key} still waits on ${job.waitingOn.join(", ")}`);
  // Only what was handed to the dispatcher is claimed (a retry in its backoff is not, yet).
  if (jobAttempt.queuedAt === null) refuse(409, "job_not_ready", `job ${job.key} attempt ${jobAttempt.number} is not queued yet`);
  if (txn.attempt.status === "KILLING") refuse(409, "run_cancelling", "the run is being cancelled");
  txn.moveJobAttempt(job, jobAttempt, "RUNNING");
  jobAttempt.agentId = input.agentId;
  jobAttempt.agentName = input.agentName;
  jobAttempt.tokenHash = input.tokenHash;
  jobAttempt.startedAt = txn.now;
  jobAttempt.lastHeartbeatAt = txn.now;
  if (txn.attempt.status === "CREATED") txn.moveAttempt("RUNNING");
  if (txn.state.run.status === "CREATED") txn.moveRun("RUNNING");
  return { job, jobAttempt };
}

/**
 * The agent holding a job attempt asks for its assignment again: the answer of its claim was
 * lost, so it never received the job token (only its hash is kept). A new token replaces the
 * old one; only the same agent may ask, and only while the attempt is live.
 */
export function reissueToken(txn: Txn, input: { jobAttemptId: string; agentId: string; tokenHash: string }): { job: JobState; jobAttempt: JobAttemptState } {
  const { job, jobAttempt } = locate(txn, input.jobAttemptId);
  requireLive(jobAttempt);
  if (jobAttempt.agentId !== input.agentId) refuse(409, "job_not_yours", `job attempt ${jobAttempt.id} is held by another agent`);
  jobAttempt.tokenHash = input.tokenHash;
  jobAttempt.lastHeartbeatAt = txn.now;
  txn.touchJobAttempt(jobAttempt);
  return { job, jobAttempt };
}

/** A job heartbeat: proof of life, answered with the cancel signal. */
export function heartbeat(txn: Txn, jobAttemptId: string): { cancel: boolean } {
  const { jobAttempt } = locate(txn, jobAttemptId);
  requireLive(jobAttempt);
  jobAttempt.lastHeartbeatAt = txn.now;
  txn.touchJobAttempt(jobAttempt);
  return { cancel: jobAttempt.status === "KILLING" };
}

/**
 * Outputs past OUTPUT_LIMITS (domain/protocol.ts) are refused with 413 — also when the
 * protocol schema was bypassed — so no stored row can outgrow D1's or SQLite's.
 */
function checkOutputs(what: string, outputs: Readonly<Record<string, string>>): void {
  const keys = Object.keys(outputs).length;
  if (keys > OUTPUT_LIMITS.keys) refuse(413, "outputs_too_large", `${what} has ${keys} outputs; the limit is ${OUTPUT_LIMITS.keys}`);
  const bytes = outputsBytes(outputs);
  if (bytes > OUTPUT_LIMITS.totalBytes) {
    refuse(413, "outputs_too_large", `${what}'s outputs are ${bytes} bytes as JSON (UTF-8); the limit is ${OUTPUT_LIMITS.totalBytes}`);
  }
}

export function updateStep(txn: Txn, jobAttemptId: string, stepId: string, update: StepUpdate): StepState {
  const { job, jobAttempt } = locate(txn, jobAttemptId);
  requireLive(jobAttempt);
  const step = jobAttempt.steps.find((s) => s.id === stepId);
  if (!step) refuse(404, "step_not_found", `job ${job.key} has no step ${stepId}`);
  jobAttempt.lastHeartbeatAt = txn.now;
  txn.touchJobAttempt(jobAttempt); // stored even when the update is a resend that changes nothing else
  if (update.outputs) {
    checkOutputs(`step ${stepId}`, update.outputs);
    const together = jobAttempt.steps.reduce((n, s) => n + outputsBytes(s.id === stepId ? update.outputs! : s.outputs), 0);
    if (together > OUTPUT_LIMITS.jobAttemptBytes) {
      refuse(413, "outputs_too_large", `the steps of job ${job.key} would have ${together} bytes of outputs together; the limit is ${OUTPUT_LIMITS.jobAttemptBytes}`);
    }
  }

  const attempts = step.attempts;
  const last = attempts[attempts.length - 1];
  if (update.status === "RUNNING") {
    if (last && last.number === update.attempt && last.status === "RUNNING") {
      // A resend, or the agent reporting the metrics appended to $YM_METRICS so far while the
      // step runs (agent/metrics-poller.ts): keep them and report progress (a RUNNING lineage
      // event, a live update) when they changed.
      recordRunningMetrics(txn, jobAttemptId, step, update);
      return step;
    }
    if (jobAttempt.status === "KILLING") refuse(409, "job_cancelling", `job ${job.key} is being cancelled; start no new steps`);
    if (update.attempt !== attempts.length + 1) {
      refuse(409, "step_attempt_out_of_order", `step ${stepId} is at attempt ${attempts.length}; attempt ${update.attempt} cannot start now`);
    }
    if (last && last.status !== "FAILED") {
      refuse(409, "step_not_retryable", `step ${stepId} attempt ${last.number} ended ${last.status}; only a failed step is retried`);
    }
    const retries = jobDefinition(txn, job.key).steps.find((s) => s.id === stepId)?.retries ?? 0;
    if (update.attempt > retries + 1) refuse(409, "step_retries_exhausted", `step ${stepId} allows ${retries} retries`);
    if (last) step.status = "CREATED"; // the step as a whole starts over; its attempts keep their results
    attempts.push({ number: update.attempt, status: "RUNNING", exitCode: null, reason: null, startedAt: txn.now, endedAt: null });
    txn.moveStep(job, jobAttempt, step, "RUNNING", update.attempt);
    step.startedAt ??= txn.now;
    step.endedAt = null;
    step.exitCode = null;
    return step;
  }

  // A terminal status for attempt `update.attempt`.
  const target: State = update.status;
  if (!last && target === "KILLED") {
    killStepNotRun(txn, job, jobAttempt, step, update.reason ?? "needs_failed");
    return step;
  }
  if (!last || last.number !== update.attempt) {
    refuse(409, "step_attempt_unknown", `step ${stepId} has no attempt ${update.attempt} running`);
  }
  if (last.status === target) return step; // a resend
  if (isTerminal(last.status)) {
    refuse(409, "step_attempt_ended", `step ${stepId} attempt ${last.number} already ended ${last.status}`);
  }
  txn.moveStep(job, jobAttempt, step, target, update.attempt, update.reason ?? null);
  last.status = target;
  last.exitCode = update.exitCode ?? null;
  last.reason = update.reason ?? null;
  last.endedAt = txn.now;
  step.exitCode = update.exitCode ?? null;
  step.reason = update.reason ?? null;
  step.endedAt = txn.now;
  if (update.outputs) step.outputs = update.outputs;
  if (update.metrics) {
    step.metrics = update.metrics;
    if (update.metrics.length > 0) txn.effects.push({ type: "progress", jobAttemptId, stepId });
  }
  return step;
}

function recordRunningMetrics(txn: Txn, jobAttemptId: string, step: StepState, update: StepUpdate): void {
  if (!update.metrics || update.metrics.length === 0) return;
  if (JSON.stringify(update.metrics) === JSON.stringify(step.metrics)) return;
  step.metrics = update.metrics;
  txn.effects.push({ type: "progress", jobAttemptId, stepId: step.id });
}

/** The agent reports the job attempt's end. */
export function finishJob(txn: Txn, jobAttemptId: string, finish: JobFinish, gateBaselines: Map<string, number[]> = new Map()): JobAttemptState {
  const { job, jobAttempt } = locate(txn, jobAttemptId);
  if (isTerminal(jobAttempt.status) && jobAttempt.status === finish.status) return jobAttempt; // a resend
  requireLive(jobAttempt);
  // Once cancelling, the job ends KILLED whatever the agent saw last, for the cancel's reason (`superseded` too).
  const killing = jobAttempt.status === "KILLING";
  let outcome: State = killing ? "KILLED" : finish.status;
  if (finish.message) jobAttempt.message = finish.message;
  checkOutputs(`job ${job.key}`, finish.outputs);
  const gated = gateOutcome(txn, job, jobAttempt, outcome, gateBaselines);
  if (gated) {
    outcome = gated.outcome;
    jobAttempt.message = jobAttempt.message ? `${jobAttempt.message}\n${gated.message}` : gated.message;
  }
  if (outcome === "SUCCESS" || outcome === "WARNING") job.outputs = finish.outputs;
  endJobAttempt(txn, job, jobAttempt, outcome, gated ? GATE_BREACHED : killing ? (jobAttempt.reason ?? "cancelled") : (finish.reason ?? (outcome === "KILLED" ? "cancelled" : null)), finish.exitCode ?? null);
  return jobAttempt;
}

/**
 * Ends a running (or killing) job attempt, then moves the run on: a retry for a failure with
 * retries left, the dependants queued or marked not run, and the attempt's end when all are over.
 */
export function endJobAttempt(
  txn: Txn,
  job: JobState,
  jobAttempt: JobAttemptState,
  outcome: State,
  reason: string | null,
  exitCode: number | null = null,
): void {
  for (const step of jobAttempt.steps) {
    if (!isTerminal(step.status)) killStepNotRun(txn, job, jobAttempt, step, outcome === "KILLED" ? "cancelled" : "not_run");
  }
  txn.moveJobAttempt(job, jobAttempt, outcome, reason);
  jobAttempt.endedAt = txn.now;
  jobAttempt.killingSince = null;
  if (jobAttempt.agentId) txn.effects.push({ type: "release", queue: jobQueue(job), jobAttemptId: jobAttempt.id, agentId: jobAttempt.agentId });
  txn.effects.push({ type: "jobAttemptEnded", jobAttemptId: jobAttempt.id });

  const decision =
    outcome === "FAILED" ? retryDecision(jobDefinition(txn, job.key), job, { reason, exitCode }, txn.attempt.status === "KILLING") : null;
  if (decision) jobAttempt.retry = decision.why;
  if (decision?.retry) {
    const next = addJobAttempt(txn, job);
    if (decision.backoffMs > 0) next.notBefore = txn.now + decision.backoffMs;
  }
  enqueueReadyJobs(txn); // queues the retry, or ends the jobs that can no longer run
  finishAttemptIfDone(txn);
}
