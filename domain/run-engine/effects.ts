/**
 * What a run-engine command asks the outside world to do. The engine never does I/O: the
 * RunObject persists what a command touched and carries out its effects (dispatcher calls,
 * history rows, live messages, lineage events, log archival).
 */
import type { State } from "../states.ts";
import type { RunState } from "./model.ts";

export type EntityKind = "run" | "run_attempt" | "job_attempt" | "step";

export interface TransitionEffect {
  type: "transition";
  entity: EntityKind;
  /** run id, run attempt id, job attempt id, or `<jobAttemptId>/<stepId>` for a step. */
  id: string;
  from: State | null;
  to: State;
  at: number;
  reason: string | null;
  runAttempt: number;
  jobKey?: string;
  jobAttemptId?: string;
  stepId?: string;
  stepAttempt?: number;
}

/** A job attempt the dispatcher should queue (all its needs met). */
export interface QueueItem {
  jobAttemptId: string;
  runId: string;
  runNumber: number;
  project: string;
  pipeline: string;
  jobKey: string;
  runAttempt: number;
  jobAttempt: number;
  labels: string[];
  priority: number;
  readyAt: number;
  /** The queue (DispatcherObject) it waits in; absent in items stored before queues = `default`. */
  queue?: string;
}

export type Effect =
  | TransitionEffect
  | { type: "enqueue"; item: QueueItem }
  /** Remove queued (not yet claimed) job attempts from the dispatcher. */
  | { type: "dequeue"; queue: string; jobAttemptIds: string[] }
  /** The job attempt ended: free its agent's slot in the dispatcher. */
  | { type: "release"; queue: string; jobAttemptId: string; agentId: string }
  /** The job attempt ended: its log can be archived. */
  | { type: "jobAttemptEnded"; jobAttemptId: string }
  /** A step reported metrics while running (OpenLineage RUNNING). */
  | { type: "progress"; jobAttemptId: string; stepId: string }
  /** An approval job started waiting for a person (OpenLineage OTHER). */
  | { type: "awaitingApproval"; jobAttemptId: string }
  /**
   * A job attempt started waiting for its run's or its own concurrency group (OpenLineage OTHER,
   * the live feed's `waiting`), or stopped waiting for it (`group` null: granted, or ended).
   */
  | { type: "awaitingGroup"; jobAttemptId: string; group: string | null }
  /**
   * Ask the project's ConcurrencyGroupsObject for a group (`acquire`), or give it back
   * (`release`). `holder` is the run attempt's id (pipeline-level) or the job's id (job-level).
   */
  | { type: "concurrency"; op: "acquire"; group: string; holder: string; cancelInProgress: boolean; label: string }
  | { type: "concurrency"; op: "release"; group: string; holder: string };

export interface EngineError {
  status: 400 | 404 | 409 | 410 | 413;
  code: string;
  message: string;
  details?: unknown;
}

export interface Touched {
  run: boolean;
  /** Run attempt numbers. */
  attempts: Set<number>;
  /** Job ids. */
  jobs: Set<string>;
  /** Job attempt ids (their steps are stored with them). */
  jobAttempts: Set<string>;
}

export type CommandResult<T> =
  | { ok: true; value: T; state: RunState; effects: Effect[]; touched: Touched }
  | { ok: false; error: EngineError };

export class EngineRefusal extends Error {
  readonly error: EngineError;

  constructor(error: EngineError) {
    super(error.message);
    this.error = error;
    this.name = "EngineRefusal";
  }
}

export function refuse(status: EngineError["status"], code: string, message: string, details?: unknown): never {
  throw new EngineRefusal({ status, code, message, ...(details === undefined ? {} : { details }) });
}
