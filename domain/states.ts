/**
 * The one state machine (DESIGN.md §3, after Kestra) used for runs, run attempts, job attempts
 * and step runs. Pure: no Cloudflare or Node dependency.
 */

export const STATES = [
  "CREATED",
  "RUNNING",
  "SUCCESS",
  "WARNING",
  "FAILED",
  "KILLING",
  "KILLED",
  "RESTARTED",
] as const;
export type State = (typeof STATES)[number];

export const TERMINAL_STATES = ["SUCCESS", "WARNING", "FAILED", "KILLED"] as const satisfies readonly State[];
export type TerminalState = (typeof TERMINAL_STATES)[number];

/** Every legal move. Anything not listed is refused (409) and logged. */
export const TRANSITIONS: Readonly<Record<State, readonly State[]>> = {
  CREATED: ["RUNNING", "KILLING", "KILLED"],
  RUNNING: ["SUCCESS", "WARNING", "FAILED", "KILLING"],
  KILLING: ["KILLED"],
  // RESTARTED is not CREATED: DESIGN.md allows KILLED straight from CREATED only.
  RESTARTED: ["CREATED", "KILLING"],
  // Only a run: re-running chosen jobs of a SUCCESS run (DESIGN.md §7). Txn.move refuses
  // RESTARTED for anything but the run, so a job, attempt or step that succeeded stays so.
  SUCCESS: ["RESTARTED"],
  WARNING: ["RESTARTED"],
  FAILED: ["RESTARTED"],
  KILLED: ["RESTARTED"],
};

export function isTerminal(state: State): boolean {
  return (TERMINAL_STATES as readonly State[]).includes(state);
}

export function canTransition(from: State, to: State): boolean {
  return TRANSITIONS[from].includes(to);
}

export class IllegalTransitionError extends Error {
  readonly entity: string;
  readonly from: State;
  readonly to: State;

  constructor(entity: string, from: State, to: State) {
    super(`${entity} cannot go from ${from} to ${to}`);
    this.entity = entity;
    this.from = from;
    this.to = to;
    this.name = "IllegalTransitionError";
  }
}

/** Throws IllegalTransitionError unless `from → to` is in the table. */
export function assertTransition(entity: string, from: State, to: State): void {
  if (!canTransition(from, to)) throw new IllegalTransitionError(entity, from, to);
}

/** The dashboard's words for each state. */
export type DisplayStatus = "Queued" | "Running" | "Succeeded" | "Failed" | "Cancelled";
export function displayStatus(state: State): DisplayStatus {
  switch (state) {
    case "CREATED":
    case "RESTARTED":
      return "Queued";
    case "RUNNING":
    case "KILLING":
      return "Running";
    case "SUCCESS":
    case "WARNING":
      return "Succeeded";
    case "FAILED":
      return "Failed";
    case "KILLED":
      return "Cancelled";
  }
}

/**
 * How a finished set of jobs (or steps) adds up: FAILED if any failed, else KILLED if any was
 * killed, else WARNING if any warned, else SUCCESS. Only meaningful when all are terminal.
 */
export function summarize(states: readonly State[]): State {
  if (states.includes("FAILED")) return "FAILED";
  if (states.includes("KILLED")) return "KILLED";
  if (states.includes("WARNING")) return "WARNING";
  return "SUCCESS";
}

/**
 * Why a run, job attempt or step moved as it did, beyond its own exit: every reason the control
 * plane and the agent record, with its meaning (docs/state-machine.md). A reason is free text on
 * the wire (an agent of another version may send one not listed); these are the ones we emit.
 */
export const REASONS = {
  // set by the control plane
  needs_failed: "an upstream job or step can no longer succeed: shown as \"Not run\"",
  cancelled: "a person or the API cancelled the run or the job",
  agent_lost: "the agent stopped heartbeating while it held the job",
  timeout: "the job or step ran past its timeout",
  not_run: "the step had not started when its job ended",
  rerun: "the run was re-run (all jobs)",
  rerun_failed: "the run was re-run (failed and cancelled jobs, and their dependants)",
  rerun_jobs: "the run was re-run (the jobs named, and their dependants)",
  gate_breached: "a metric gate of the job was breached (domain/pipeline/gates.ts): WARNING, or FAILED with fail: true",
  skipped: "the job's or step's `if:` was false: shown as \"Skipped\"; neither a failure nor a cancel",
  superseded: "a newer run of its concurrency group, with cancel-in-progress, cancelled it: shown as \"Superseded\"",
  // reported by the agent
  step_failed: "a step failed (and was not continue-on-error)",
  steps_not_run: "steps did not run (their needs failed or the job stopped)",
  continue_on_error: "a continue-on-error step failed: the job is WARNING",
  checkout_failed: "the repository could not be checked out",
  artifacts_failed: "some artifacts could not be uploaded: the job is WARNING",
  spawn_failed: "the step's shell could not be started",
  agent_shutdown: "the agent was stopped while the job ran",
  agent_error: "the agent failed while running the job",
  invalid_assignment: "the agent could not read the job it was given",
  rejected: "an approval was rejected (the control plane), or the control plane no longer accepted the job (the agent)",
} as const;
export type Reason = keyof typeof REASONS;
