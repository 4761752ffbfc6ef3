/** The dashboard's words and colours for the one state machine (DESIGN.md §3). */
import { waitedGroup } from "../../../domain/pipeline/concurrency.ts";
import { displayStatus, isTerminal, type DisplayStatus, type Reason, type State } from "../../../domain/states.ts";

export { displayStatus, isTerminal, type DisplayStatus };

export interface StatusLook {
  label: string;
  /** CSS modifier: queued, running, succeeded, warning, failed, cancelled, notrun. */
  tone: "queued" | "running" | "succeeded" | "warning" | "failed" | "cancelled" | "notrun";
}

/** `waitingOn`: a job not started that waits for its concurrency group or a person says so (the graph viewer). */
export function statusLook(state: State, reason?: string | null, waitingOn: readonly string[] = []): StatusLook {
  const group = state === "CREATED" ? waitedGroup(waitingOn) : null;
  if (group !== null) return { label: `Waiting for ${group}`, tone: "queued" };
  if (state === "CREATED" && waitingOn.join() === "approval") return { label: "Waiting for approval", tone: "queued" };
  // Cancelled by a newer run of its concurrency group (cancel-in-progress).
  if (state === "KILLED" && reason === ("superseded" satisfies Reason)) return { label: "Superseded", tone: "cancelled" };
  if (state === "KILLED" && reason === ("needs_failed" satisfies Reason)) return { label: "Not run", tone: "notrun" };
  // Its `if:` was false: not a failure nor a cancel (docs/state-machine.md, "Conditions").
  if (state === "KILLED" && reason === ("skipped" satisfies Reason)) return { label: "Skipped", tone: "notrun" };
  if (state === "WARNING") return { label: "Succeeded", tone: "warning" };
  if (state === "KILLING") return { label: "Cancelling", tone: "running" };
  const label = displayStatus(state);
  return { label, tone: label.toLowerCase() as StatusLook["tone"] };
}

/** The API's status filter for each word (GET /api/v1/runs?status=). */
export const STATUS_FILTERS: Record<DisplayStatus, string> = {
  Queued: "CREATED,RESTARTED",
  Running: "RUNNING,KILLING",
  Succeeded: "SUCCESS,WARNING",
  Failed: "FAILED",
  Cancelled: "KILLED",
};
