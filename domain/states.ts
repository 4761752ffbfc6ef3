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

export const TERMINAL_STATES: readonly State[] = ["SUCCESS", "WARNING", "FAILED", "KILLED"];

/** Every legal move. Anything not listed is refused (409) and logged. */
export const TRANSITIONS: Readonly<Record<State, readonly State[]>> = {
  CREATED: ["RUNNING", "KILLING", "KILLED"],
  RUNNING: ["SUCCESS", "WARNING", "FAILED", "KILLING"],
  KILLING: ["KILLED"],
  // RESTARTED is not CREATED: DESIGN.md allows KILLED straight from CREATED only.
  RESTARTED: ["CREATED", "KILLING"],
  SUCCESS: [],
  WARNING: ["RESTARTED"],
  FAILED: ["RESTARTED"],
  KILLED: ["RESTARTED"],
};

export function isTerminal(state: State): boolean {
  return TERMINAL_STATES.includes(state);
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

/** Why a job attempt or step ended the way it did (beyond its own exit). */
export const REASONS = [
  "needs_failed", // an upstream job or step can no longer succeed: shown as "Not run"
  "cancelled", // a person or the API cancelled the run or the job
  "agent_lost", // the agent stopped heartbeating
  "timeout", // the job or step ran past its timeout
  "exit_code", // the command exited non-zero
  "error", // the agent could not run it (checkout failed, bad template, …)
  "gate_breached", // a metric gate of the job was breached (domain/pipeline/gates.ts)
] as const;
export type Reason = (typeof REASONS)[number];
