/**
 * How a job's steps add up to the job's status and reason: a failed step (not continue-on-error)
 * fails the job, a step that did not run (not a skipped one) fails it too, a tolerated failure
 * makes it WARNING (docs/state-machine.md).
 */
import type { JobFinish } from "../domain/protocol.ts";
import type { Reason } from "../domain/states.ts";
import type { StepDone } from "./step-graph.ts";

export function summarizeSteps(
  steps: readonly { id: string; continueOnError: boolean }[],
  done: ReadonlyMap<string, StepDone>,
): { status: JobFinish["status"]; reason?: Reason; message?: string; failedStep?: string } {
  const failed = steps.filter((s) => done.get(s.id)?.status === "FAILED" && !s.continueOnError);
  // A step skipped by its `if:` is not a step that did not run for a failure.
  const notRun = steps.filter((s) => (done.get(s.id)?.status === "KILLED" && done.get(s.id)?.skipped !== "skipped") || !done.has(s.id));
  const tolerated = steps.filter((s) => done.get(s.id)?.status === "FAILED" && s.continueOnError);
  if (failed.length > 0) {
    return { status: "FAILED", reason: "step_failed", message: `step ${failed.map((s) => s.id).join(", ")} failed`, failedStep: failed[0]!.id };
  }
  if (notRun.length > 0) {
    return { status: "FAILED", reason: "steps_not_run", message: `step ${notRun.map((s) => s.id).join(", ")} did not run` };
  }
  if (tolerated.length > 0) {
    return { status: "WARNING", reason: "continue_on_error", message: `step ${tolerated.map((s) => s.id).join(", ")} failed (continue-on-error)` };
  }
  return { status: "SUCCESS" };
}
