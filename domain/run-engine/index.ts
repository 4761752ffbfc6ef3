/**
 * The run engine: pure functions from (run state, command) to (new state, effects). No I/O,
 * no clock, no randomness of its own — the EngineContext brings those — so the RunObject, the
 * tests and a property test all drive the very same code.
 */
import type { JobFinish, StepUpdate } from "../protocol.ts";
import type { CommandResult } from "./effects.ts";
import { type AppendJobsInput, type AppendJobsResult, appendJobs } from "./append-jobs.ts";
import { type ApprovalDecision, decideApproval } from "./approvals.ts";
import { cancelJobs, cancelRun, rerun, type RerunOptions } from "./control.ts";
import { applyGroupCall, type GroupCall } from "./concurrency.ts";
import { type AssignInput, assignJob, finishJob, heartbeat, reissueToken, updateStep } from "./job-lifecycle.ts";
import type { EngineContext, JobAttemptState, JobState, RunState, StepState } from "./model.ts";
import { tick } from "./tick.ts";
import { runCommand } from "./txn.ts";

export * from "./model.ts";
export * from "./effects.ts";
export { createRun, type CreateRunInput } from "./create.ts";
export type { AssignInput } from "./job-lifecycle.ts";
export type { RerunOptions } from "./control.ts";
export type { ApprovalDecision } from "./approvals.ts";
export { nextDeadline } from "./tick.ts";
export { SUPERSEDED, type GroupCall } from "./concurrency.ts";
export { groupWait } from "../pipeline/concurrency.ts";
export { MAX_RUN_JOBS, MAX_UPLOAD_DEPTH, parseUpload, type AppendJobsInput, type AppendJobsResult } from "./append-jobs.ts";
export { buildJobAssignment, type AssignmentOptions } from "./job-assignment.ts";
export { runView, timedRunView, type HistoryIndex } from "./view.ts";

export const engine = {
  cancel: (state: RunState, ctx: EngineContext): CommandResult<void> => runCommand(state, ctx, (t) => cancelRun(t)),
  cancelJobs: (state: RunState, ctx: EngineContext, jobAttemptIds: string[]): CommandResult<string[]> =>
    runCommand(state, ctx, (t) => cancelJobs(t, jobAttemptIds)),
  /** A boolean is `failedOnly` (the older call). */
  rerun: (state: RunState, ctx: EngineContext, options: boolean | RerunOptions): CommandResult<void> =>
    runCommand(state, ctx, (t) => rerun(t, typeof options === "boolean" ? { failedOnly: options } : options)),
  assign: (state: RunState, ctx: EngineContext, input: AssignInput): CommandResult<{ job: JobState; jobAttempt: JobAttemptState }> =>
    runCommand(state, ctx, (t) => assignJob(t, input)),
  reissueToken: (state: RunState, ctx: EngineContext, input: { jobAttemptId: string; agentId: string; tokenHash: string }): CommandResult<{ job: JobState; jobAttempt: JobAttemptState }> =>
    runCommand(state, ctx, (t) => reissueToken(t, input)),
  heartbeat: (state: RunState, ctx: EngineContext, jobAttemptId: string): CommandResult<{ cancel: boolean }> =>
    runCommand(state, ctx, (t) => heartbeat(t, jobAttemptId)),
  updateStep: (state: RunState, ctx: EngineContext, jobAttemptId: string, stepId: string, update: StepUpdate): CommandResult<StepState> =>
    runCommand(state, ctx, (t) => updateStep(t, jobAttemptId, stepId, update)),
  /** `gateBaselines`: each gated metric's values in the job's last successful runs on the branch (run-object/gate-baselines.ts). */
  finishJob: (state: RunState, ctx: EngineContext, jobAttemptId: string, finish: JobFinish, gateBaselines?: Map<string, number[]>): CommandResult<JobAttemptState> =>
    runCommand(state, ctx, (t) => finishJob(t, jobAttemptId, finish, gateBaselines)),
  appendJobs: (state: RunState, ctx: EngineContext, input: AppendJobsInput): CommandResult<AppendJobsResult> =>
    runCommand(state, ctx, (t) => appendJobs(t, input)),
  tick: (state: RunState, ctx: EngineContext): CommandResult<void> => runCommand(state, ctx, (t) => tick(t)),
  /** The project's ConcurrencyGroupsObject grants or supersedes a claim of this run (concurrency.ts). */
  groupCall: (state: RunState, ctx: EngineContext, call: GroupCall): CommandResult<"held" | "released"> =>
    runCommand(state, ctx, (t) => applyGroupCall(t, call)),
  /** A person approves or rejects the approval job `jobKey` (approvals.ts). */
  decideApproval: (state: RunState, ctx: EngineContext, jobKey: string, decision: ApprovalDecision): CommandResult<JobState> =>
    runCommand(state, ctx, (t) => decideApproval(t, jobKey, decision)),
};
