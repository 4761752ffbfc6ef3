/**
 * Retention (issue 18; docs/architecture.md "Retention and deletion"), run by the cron every
 * minute next to the scheduler. Each tick does a bounded amount of work — at most `batch` items
 * of each kind (runs, artifacts, logs, caches, webhook deliveries, schedule slots), each found
 * by an indexed "older than" query with a LIMIT — so a project with a year of history is
 * trimmed over many ticks, never by one giant statement or an unbounded loop. What is left is
 * found again by the next tick: the queries are their own cursor.
 *
 * Per project, `projects.retention` (domain/retention.ts) in days:
 *  - runs: ended runs created before the cutoff are deleted whole (run-removal.ts);
 *  - artifacts: the bytes go, the row stays marked `expired_at` (lists say "expired");
 *  - logs: the run's log archives go and its object answers 410 `expired` for them;
 *  - caches: entries not used since the cutoff go.
 * Everywhere: webhook deliveries older than WEBHOOK_DELIVERY_DAYS and fired schedule slots
 * older than SCHEDULE_SLOT_DAYS.
 */
import { and, asc, eq, inArray, isNotNull, isNull, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { DAY_MS, Retention } from "../../domain/retention.ts";
import { TERMINAL_STATES } from "../../domain/states.ts";
import { artifacts, cacheEntries, projects, runs } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { runStub } from "../../platform/stubs.ts";
import { deleteCacheEntries } from "./caches.ts";
import { deleteRunRows } from "./run-removal.ts";

/** Items of each kind one tick removes at most. */
export const RETENTION_BATCH = 200;
export const WEBHOOK_DELIVERY_DAYS = 30;
export const SCHEDULE_SLOT_DAYS = 30;
/** Projects whose retention one tick looks at (in turn: the rest at later ticks). */
const PROJECTS_PER_TICK = 50;
/** Run objects called at once. */
const PARALLEL = 20;

export interface RetentionReport {
  runs: number;
  artifacts: number;
  logs: number;
  caches: number;
  webhookDeliveries: number;
  scheduleSlots: number;
}

async function inParallel<T>(items: readonly T[], each: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += PARALLEL) await Promise.all(items.slice(i, i + PARALLEL).map(each));
}

/** One retention tick at `now`; `batch` bounds each kind's work. */
export interface RetentionOptions {
  /** Items of each kind this tick removes at most. */
  batch: number;
  /**
   * Removes a run's R2 objects and its object's storage (default: RunObject.destroy). Tests that
   * insert thousands of bare D1 rows — runs that never had an object — pass a cheaper one.
   */
  removeRunObject: (env: Env, runId: string) => Promise<{ ok: boolean }>;
}

const removeWithObject = (env: Env, runId: string) => runStub(env, runId).destroy(runId);

export async function retentionTick(env: Env, now: number, options: Partial<RetentionOptions> = {}): Promise<RetentionReport> {
  const batch = options.batch ?? RETENTION_BATCH;
  const removeRunObject = options.removeRunObject ?? removeWithObject;
  const db = drizzle(env.DB);
  const report: RetentionReport = { runs: 0, artifacts: 0, logs: 0, caches: 0, webhookDeliveries: 0, scheduleSlots: 0 };
  // Rotates through projects minute by minute, so a long list is covered in turn.
  const withRetention = await db.select({ id: projects.id, retention: projects.retention }).from(projects).where(isNotNull(projects.retention));
  const start = withRetention.length > PROJECTS_PER_TICK ? Math.floor(now / 60_000) % withRetention.length : 0;
  const turn = [...withRetention.slice(start), ...withRetention.slice(0, start)].slice(0, PROJECTS_PER_TICK);
  const ended = inArray(runs.status, [...TERMINAL_STATES]);

  for (const project of turn) {
    const parsed = Retention.safeParse(project.retention);
    if (!parsed.success) continue;
    const r = parsed.data;
    const budget = (done: number) => Math.max(0, batch - done);
    if (r.runs && budget(report.runs) > 0) {
      const old = await db
        .select({ id: runs.id })
        .from(runs)
        .where(and(eq(runs.projectId, project.id), lt(runs.createdAt, now - r.runs * DAY_MS), ended))
        .orderBy(asc(runs.createdAt))
        .limit(budget(report.runs));
      // Objects first (R2 and storage), then the rows of those that went, in chunks of 100 (D1's bound-parameter limit).
      const removed: string[] = [];
      await inParallel(old, async ({ id }) => {
        const result = await removeRunObject(env, id);
        if (result.ok) removed.push(id);
      });
      for (let i = 0; i < removed.length; i += 90) await deleteRunRows(env, removed.slice(i, i + 90));
      report.runs += removed.length;
    }
    if (r.artifacts && budget(report.artifacts) > 0) {
      const old = await db
        .select({ id: artifacts.id, r2Key: artifacts.r2Key })
        .from(artifacts)
        .where(and(eq(artifacts.projectId, project.id), lt(artifacts.createdAt, now - r.artifacts * DAY_MS), isNull(artifacts.expiredAt)))
        .limit(budget(report.artifacts));
      if (old.length > 0) {
        await env.ARTIFACTS.delete(old.map((a) => a.r2Key));
        await db.update(artifacts).set({ expiredAt: now }).where(inArray(artifacts.id, old.map((a) => a.id)));
        report.artifacts += old.length;
      }
    }
    if (r.logs && budget(report.logs) > 0) {
      const old = await db
        .select({ id: runs.id })
        .from(runs)
        .where(and(eq(runs.projectId, project.id), lt(runs.createdAt, now - r.logs * DAY_MS), ended, isNull(runs.logsExpiredAt)))
        .limit(budget(report.logs));
      await inParallel(old, async ({ id }) => {
        const result = await runStub(env, id).expireLogs(id);
        if (result.ok) {
          await db.update(runs).set({ logsExpiredAt: now }).where(eq(runs.id, id));
          report.logs += 1;
        }
      });
    }
    if (r.caches && budget(report.caches) > 0) {
      const old = await db
        .select()
        .from(cacheEntries)
        .where(and(eq(cacheEntries.projectId, project.id), lt(cacheEntries.lastUsedAt, now - r.caches * DAY_MS)))
        .limit(budget(report.caches));
      await deleteCacheEntries(env, old);
      report.caches += old.length;
    }
  }

  // Bounded deletes: the LIMIT is in a subquery (D1's SQLite has no DELETE … LIMIT).
  const deliveries = await env.DB.prepare(
    "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE received_at < ? LIMIT ?)",
  )
    .bind(now - WEBHOOK_DELIVERY_DAYS * DAY_MS, batch)
    .run();
  report.webhookDeliveries = deliveries.meta.changes ?? 0;
  const slots = await env.DB.prepare(
    `DELETE FROM schedule_slots WHERE rowid IN (SELECT rowid FROM schedule_slots
       WHERE created_at < ? AND (started_at IS NOT NULL OR failed_at IS NOT NULL) LIMIT ?)`,
  )
    .bind(now - SCHEDULE_SLOT_DAYS * DAY_MS, batch)
    .run();
  report.scheduleSlots = slots.meta.changes ?? 0;
  return report;
}
