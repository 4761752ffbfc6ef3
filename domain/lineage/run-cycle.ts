/**
 * The OpenLineage run cycle, enforced per runId whatever the engine did: START before any
 * RUNNING or terminal event (a run that ends without having started gets a START at the same
 * instant first), exactly one START and one terminal event (COMPLETE, ABORT or FAIL), nothing
 * after the terminal event, OTHER anywhere before it. `lookup` says what was already recorded
 * for a runId by earlier commands; this function tracks the rest within one batch.
 */
import { type EventType, TERMINAL_EVENT_TYPES } from "./types.ts";

export interface CycleState {
  started: boolean;
  ended: boolean;
}

export type CycleLookup = (runId: string) => CycleState;

export interface CycleItem {
  runId: string;
  type: EventType;
}

export function enforceRunCycle<T extends CycleItem>(
  items: readonly T[],
  lookup: CycleLookup,
  /** The START to put before `item` when its run never started. */
  startBefore: (item: T) => T,
): { kept: T[]; dropped: T[] } {
  const states = new Map<string, CycleState>();
  const kept: T[] = [];
  const dropped: T[] = [];
  for (const item of items) {
    const state = states.get(item.runId) ?? { ...lookup(item.runId) };
    states.set(item.runId, state);
    if (state.ended || (item.type === "START" && state.started)) {
      dropped.push(item);
      continue;
    }
    if (item.type !== "OTHER" && item.type !== "START" && !state.started) kept.push(startBefore(item));
    if (item.type !== "OTHER") state.started = true;
    if (TERMINAL_EVENT_TYPES.includes(item.type)) state.ended = true;
    kept.push(item);
  }
  return { kept, dropped };
}
