/**
 * Schedules (`on: schedule`; docs/triggers.md). The schedules of every pipeline's current
 * version are indexed in D1 when the version is stored (`scheduleStatements`, in the same batch),
 * each with `nextAt`, its first slot not yet fired. A Workers Cron Trigger calls `scheduledTick`
 * every minute; it reads only the schedules that are due (an index on `next_at`), so its cost
 * follows the due schedules, not the number of pipelines or runs.
 *
 * Exactly once per slot: a slot row (unique per pipeline, cron and slot) is inserted together
 * with the schedule's move to its next slot, in one D1 batch, before the run is started — with
 * the run's id chosen in that row. Two ticks racing insert one row; only the tick whose insert
 * landed starts the run. If the worker dies between the insert and the start, the row stays
 * pending and a later tick starts the run with the same id (RunObject.create is idempotent
 * per id), so the slot's run is neither lost nor doubled.
 */
import { and, eq, isNull, lte, notInArray } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { drizzle } from "drizzle-orm/d1";
import { uuidv7 } from "uuidv7";
import { dueSlot, nextSlotAfter } from "../../domain/triggers/schedule.ts";
import { pipelines, projects, schedules, scheduleSlots } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError } from "../http/errors.ts";
import { triggerRun } from "./trigger-run.ts";

/** A pending slot older than this is started again by the next tick (its first start died). */
export const RETRY_PENDING_AFTER_MS = 2 * 60_000;
/** After this many failed starts a slot is given up (and says why). */
export const MAX_START_ATTEMPTS = 10;
/** Bounds one tick's work; what is left is due at the next tick. */
const MAX_SCHEDULES_PER_TICK = 500;

/**
 * D1 statements that make a pipeline's indexed schedules those of its new version: crons no
 * longer listed go, new ones start from `now` (a new schedule does not fire for past slots),
 * and crons kept keep their `nextAt`. For the PUT's batch, so the version and its schedules
 * land together.
 */
export function scheduleStatements(db: DrizzleD1Database, pipelineId: string, projectId: string, crons: readonly string[], now: number) {
  const unique = [...new Set(crons)];
  const statements = [
    db
      .delete(schedules)
      .where(unique.length ? and(eq(schedules.pipelineId, pipelineId), notInArray(schedules.cron, unique)) : eq(schedules.pipelineId, pipelineId)),
    ...unique.map((cron) =>
      db
        .insert(schedules)
        .values({ pipelineId, cron, projectId, nextAt: nextSlotAfter(cron, now), createdAt: now })
        .onConflictDoNothing(),
    ),
  ];
  return statements;
}

export interface TickReport {
  /** Runs started, by pipeline and slot. */
  started: { project: string; pipeline: string; cron: string; slot: number; runId: string; late: boolean }[];
  /** Slots whose start was refused or failed this tick. */
  failed: { pipeline: string; cron: string; slot: number; error: string }[];
}

type SlotRow = typeof scheduleSlots.$inferSelect;

/** Starts the run of a slot row; records the outcome on the row. */
async function startSlot(db: DrizzleD1Database, env: Env, slot: SlotRow, project: string, pipeline: string, report: TickReport, late: boolean) {
  const key = and(eq(scheduleSlots.pipelineId, slot.pipelineId), eq(scheduleSlots.cron, slot.cron), eq(scheduleSlots.slot, slot.slot));
  try {
    await triggerRun(env, { project, pipeline, trigger: "schedule", nominalTime: slot.slot, runId: slot.runId });
    await db.update(scheduleSlots).set({ startedAt: Date.now(), attempts: slot.attempts + 1, error: null }).where(key);
    report.started.push({ project, pipeline, cron: slot.cron, slot: slot.slot, runId: slot.runId, late });
  } catch (error) {
    // A refusal (e.g. a param with no default) will not change by retrying; anything else may.
    const refused = error instanceof ApiError && error.status < 500;
    const attempts = slot.attempts + 1;
    const message = error instanceof Error ? error.message : String(error);
    const giveUp = refused || attempts >= MAX_START_ATTEMPTS;
    await db
      .update(scheduleSlots)
      .set({ attempts, error: message, failedAt: giveUp ? Date.now() : null })
      .where(key);
    console.warn(`schedule ${project}/${pipeline} "${slot.cron}" slot ${new Date(slot.slot).toISOString()}: start failed${giveUp ? " for good" : ", will retry"}: ${message}`);
    report.failed.push({ pipeline, cron: slot.cron, slot: slot.slot, error: message });
  }
}

/** One scheduler tick at `now` (the Cron Trigger's scheduledTime). */
export async function scheduledTick(env: Env, now: number): Promise<TickReport> {
  const db = drizzle(env.DB);
  const report: TickReport = { started: [], failed: [] };

  // Slots whose start died or failed earlier (not the ones a concurrent tick is starting now).
  const pending = await db
    .select({ slot: scheduleSlots, pipeline: pipelines.name, project: projects.slug })
    .from(scheduleSlots)
    .innerJoin(pipelines, eq(pipelines.id, scheduleSlots.pipelineId))
    .innerJoin(projects, eq(projects.id, pipelines.projectId))
    .where(and(isNull(scheduleSlots.startedAt), isNull(scheduleSlots.failedAt), lte(scheduleSlots.createdAt, now - RETRY_PENDING_AFTER_MS)))
    .limit(MAX_SCHEDULES_PER_TICK);
  for (const p of pending) await startSlot(db, env, p.slot, p.project, p.pipeline, report, true);

  const due = await db
    .select({ schedule: schedules, pipeline: pipelines.name, project: projects.slug })
    .from(schedules)
    .innerJoin(pipelines, eq(pipelines.id, schedules.pipelineId))
    .innerJoin(projects, eq(projects.id, schedules.projectId))
    .where(lte(schedules.nextAt, now))
    .orderBy(schedules.nextAt)
    .limit(MAX_SCHEDULES_PER_TICK);
  for (const { schedule, pipeline, project } of due) {
    const fire = dueSlot(schedule.cron, schedule.nextAt!, now);
    const moved = and(eq(schedules.pipelineId, schedule.pipelineId), eq(schedules.cron, schedule.cron), eq(schedules.nextAt, schedule.nextAt!));
    if (!fire) {
      // Cannot happen for a valid cron (nextAt is one of its slots); keep the index moving anyway.
      await db.update(schedules).set({ nextAt: nextSlotAfter(schedule.cron, now) }).where(moved);
      continue;
    }
    const row: SlotRow = {
      pipelineId: schedule.pipelineId,
      cron: schedule.cron,
      slot: fire.slot,
      runId: uuidv7(),
      createdAt: Date.now(),
      startedAt: null,
      attempts: 0,
      error: null,
      failedAt: null,
    };
    const [inserted] = await db.batch([
      db.insert(scheduleSlots).values(row).onConflictDoNothing().returning({ runId: scheduleSlots.runId }),
      db.update(schedules).set({ nextAt: fire.nextAt }).where(moved),
    ]);
    // Another tick inserted this slot first: it starts the run.
    if (inserted.length === 0) continue;
    if (fire.skipped) {
      console.warn(`schedule ${project}/${pipeline} "${schedule.cron}": slots from ${new Date(schedule.nextAt!).toISOString()} were missed; starting only the latest, ${new Date(fire.slot).toISOString()}`);
    }
    await startSlot(db, env, row, project, pipeline, report, fire.skipped || now - fire.slot >= 60_000);
  }
  return report;
}

