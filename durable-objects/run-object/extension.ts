/**
 * How features plug into the RunObject without growing it: live streams, OpenLineage, and
 * whatever comes next each implement RunExtension in their own file and are listed in
 * `index.ts`. The RunObject calls them at fixed points of every command.
 */
import type { Effect, RunState, Touched, TransitionEffect } from "../../domain/run-engine/index.ts";
import type { RunAction } from "./audit-outbox.ts";

export interface Committed {
  /** The run after the command. */
  state: RunState;
  effects: Effect[];
  transitions: TransitionEffect[];
  touched: Touched;
  now: number;
  /** Who acted on the run, when the command was an action on it (recorded by ./audit-outbox.ts). */
  action?: RunAction | null;
}

export interface LogChunk {
  jobAttemptId: string;
  jobKey: string;
  seq: number;
  offset: number;
  data: Uint8Array;
}

export interface RunExtension {
  /** Storage migrations of the extension's own tables (run in the constructor). */
  readonly migrations?: { name: string; statements: string[] };
  /** Inside the command's storage transaction: record what must not be lost. Synchronous. */
  record?(committed: Committed): void;
  /** After the transaction committed: notify, deliver (do not await long work here). */
  committed?(committed: Committed): void;
  /** A log chunk was stored (not a resend). */
  logAppended?(chunk: LogChunk, state: RunState): void;
  /** The soonest time the extension needs the alarm, or null. */
  nextAlarmAt?(now: number): number | null;
  /** Called from the alarm (at least once per due time; make it idempotent). */
  alarm?(now: number, state: RunState | null): Promise<void>;
}
