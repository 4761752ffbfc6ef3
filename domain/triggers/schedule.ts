/**
 * Cron schedules (`on: schedule`, 5 fields, UTC; docs/triggers.md) and the slot arithmetic of
 * the scheduler. A slot is one nominal time a cron names. The scheduler keeps, per (pipeline,
 * cron), the first slot not yet fired (`nextAt`); at each tick it fires only the latest slot
 * that is due, so a worker that was down for hours starts one late run, not one per missed slot.
 */
import { Cron, type CronOptions } from "croner";

const OPTIONS: CronOptions = { mode: "5-part", timezone: "Etc/UTC", paused: true };

function cron(expression: string): Cron {
  return new Cron(expression, OPTIONS);
}

/** Why a cron expression cannot schedule anything, or null when it can. */
export function cronProblem(expression: string): string | null {
  let job: Cron;
  try {
    job = cron(expression);
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^CronPattern:\s*/, "") : String(error);
    return `"${expression}" is not a valid cron expression: ${reason}`;
  }
  if (job.nextRun(new Date(0)) === null) return `"${expression}" names no date that exists (e.g. 31 February), so it would never run`;
  return null;
}

/** The first slot strictly after `after` (ms), or null if the cron has none. */
export function nextSlotAfter(expression: string, after: number): number | null {
  return cron(expression).nextRun(new Date(after))?.getTime() ?? null;
}

/** The latest slot at or before `at` (ms), or null. */
export function latestSlotAtOrBefore(expression: string, at: number): number | null {
  // previousRuns counts a run earlier in the reference's second; 1 ms on makes `at` itself count.
  return cron(expression).previousRuns(1, new Date(at + 1))[0]?.getTime() ?? null;
}

export interface DueSlot {
  /** The slot to fire: the latest due one. */
  slot: number;
  /** Whether earlier due slots were skipped (the worker was down): they never fire. */
  skipped: boolean;
  /** The first slot after it: the schedule's new `nextAt`. */
  nextAt: number | null;
}

/**
 * What a tick at `now` fires for a schedule whose first unfired slot is `nextAt`: nothing
 * while `nextAt` is in the future, else the latest slot at or before `now`.
 */
export function dueSlot(expression: string, nextAt: number, now: number): DueSlot | null {
  if (nextAt > now) return null;
  const slot = latestSlotAtOrBefore(expression, now);
  if (slot === null || slot < nextAt) return null;
  return { slot, skipped: slot > nextAt, nextAt: nextSlotAfter(expression, slot) };
}
