/**
 * Webhook deliveries (docs/triggers.md): each one is recorded in D1, refused ones included.
 *
 * A delivery whose signature checks out is inserted with its delivery id as a dedupe key that
 * is unique per project, together with the runs it will start, each with its id chosen up
 * front. The insert cannot race: of two copies of a delivery only one row lands, and only that
 * request starts runs. Starting a run with a chosen id is idempotent, so a delivery cut short
 * (worker crash, D1 or Durable Object outage) is finished, not doubled, when GitHub redelivers
 * it: a row still `accepted` a while after it was received is driven again.
 */
import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { uuidv7 } from "uuidv7";
import { type PlannedRun, webhookDeliveries } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError } from "../http/errors.ts";
import { triggerRun } from "./trigger-run.ts";
import { isoTime } from "../../domain/time.ts";

export type DeliveryRow = typeof webhookDeliveries.$inferSelect;
export type DeliveryStatus = "accepted" | "started" | "ignored" | "failed" | "rejected" | "duplicate";

/** An `accepted` delivery this old was cut short: a redelivery finishes it. */
export const STALLED_AFTER_MS = 60_000;

export interface DeliveryFacts {
  projectId: string;
  source: "github" | "generic";
  deliveryId: string | null;
  event: string | null;
  action?: string | null;
  branch?: string | null;
  commit?: string | null;
}

function row(facts: DeliveryFacts, status: DeliveryStatus, reason: string | null, runs: PlannedRun[], dedupeKey: string | null): DeliveryRow {
  const now = Date.now();
  return {
    id: uuidv7(),
    projectId: facts.projectId,
    source: facts.source,
    deliveryId: facts.deliveryId,
    dedupeKey,
    event: facts.event,
    action: facts.action ?? null,
    branch: facts.branch ?? null,
    commit: facts.commit ?? null,
    status,
    reason,
    runs,
    receivedAt: now,
    completedAt: status === "accepted" ? null : now,
  };
}

/** Records a delivery that starts nothing and takes no dedupe slot (refused, invalid, a replay). */
export async function recordDelivery(env: Env, facts: DeliveryFacts, status: Exclude<DeliveryStatus, "accepted">, reason: string): Promise<DeliveryRow> {
  const record = row(facts, status, reason, [], null);
  await drizzle(env.DB).insert(webhookDeliveries).values(record);
  return record;
}

export type Claim = { kind: "new"; delivery: DeliveryRow } | { kind: "seen"; delivery: DeliveryRow };

/**
 * Inserts a verified delivery with the runs it plans (status `accepted`), or `ignored` when it
 * plans none. A delivery id already recorded for the project answers the earlier row instead.
 */
export async function claimDelivery(env: Env, facts: DeliveryFacts, runs: PlannedRun[], ignoredReason: string | null): Promise<Claim> {
  const db = drizzle(env.DB);
  const status = runs.length > 0 ? "accepted" : "ignored";
  const record = row(facts, status, runs.length > 0 ? null : ignoredReason, runs, facts.deliveryId);
  // With no delivery id the dedupe key is NULL, which never clashes: the row always lands.
  const inserted = await db.insert(webhookDeliveries).values(record).onConflictDoNothing().returning();
  if (inserted.length > 0) return { kind: "new", delivery: inserted[0]! };
  const earlier = (
    await db
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.projectId, facts.projectId), eq(webhookDeliveries.dedupeKey, facts.deliveryId!)))
      .limit(1)
  )[0];
  if (!earlier) throw new Error(`delivery ${facts.deliveryId} clashed with a row that is gone`);
  return { kind: "seen", delivery: earlier };
}

export const isStalled = (delivery: DeliveryRow, now = Date.now()) =>
  delivery.status === "accepted" && now - delivery.receivedAt >= STALLED_AFTER_MS;

/**
 * Starts every planned run not started yet, with its chosen id, and records the outcome. A
 * refusal (4xx: unknown params, pipeline gone) is that run's final answer; anything else stops
 * here with a 503, leaving the delivery `accepted` for a redelivery to finish.
 */
export async function startPlannedRuns(env: Env, delivery: DeliveryRow, projectSlug: string, origin: string | null = null): Promise<DeliveryRow> {
  const db = drizzle(env.DB);
  const runs = delivery.runs.map((r) => ({ ...r }));
  let failure: unknown = null;
  for (const planned of runs) {
    if (planned.number !== undefined || planned.error !== undefined) continue;
    try {
      const run = await triggerRun(env, {
        project: projectSlug,
        pipeline: planned.pipeline,
        branch: delivery.branch,
        commit: delivery.commit,
        params: planned.params ?? {},
        trigger: "webhook",
        runId: planned.runId,
        withSecrets: planned.withSecrets !== false,
        origin,
      });
      planned.number = run.number;
    } catch (error) {
      if (error instanceof ApiError && error.status < 500) planned.error = { status: error.status, code: error.code, message: error.message };
      else {
        failure = error;
        break;
      }
    }
  }
  const done = failure === null;
  const started = runs.filter((r) => r.number !== undefined).length;
  const failed = runs.filter((r) => r.error !== undefined);
  const status: DeliveryStatus = !done ? "accepted" : started > 0 || failed.length === 0 ? "started" : "failed";
  const reason = failed.length > 0 ? failed.map((r) => `${r.pipeline}: ${r.error!.message}`).join("; ") : null;
  const completedAt = done ? Date.now() : null;
  await db.update(webhookDeliveries).set({ runs, status, reason, completedAt }).where(eq(webhookDeliveries.id, delivery.id));
  if (!done) {
    console.error(`delivery ${delivery.deliveryId ?? delivery.id}: starting runs failed, a redelivery will finish it:`, failure);
    throw new ApiError(503, "try_again", "starting the runs failed midway; redeliver this delivery to finish (nothing is started twice)");
  }
  return { ...delivery, runs, status, reason, completedAt };
}

/** A page of a project's deliveries, newest first. */
export async function listDeliveries(env: Env, projectId: string, options: { limit: number; cursor?: string; status?: string }) {
  const where: SQL[] = [eq(webhookDeliveries.projectId, projectId)];
  if (options.cursor) where.push(lt(webhookDeliveries.id, options.cursor));
  if (options.status) where.push(eq(webhookDeliveries.status, options.status));
  const rows = await drizzle(env.DB)
    .select()
    .from(webhookDeliveries)
    .where(and(...where))
    .orderBy(desc(webhookDeliveries.id))
    .limit(options.limit + 1);
  const page = rows.slice(0, options.limit);
  return { items: page, cursor: rows.length > options.limit ? page[page.length - 1]!.id : null };
}


/** The API's view of a delivery. */
export function deliveryView(d: DeliveryRow) {
  return {
    id: d.id,
    source: d.source,
    deliveryId: d.deliveryId,
    event: d.event,
    action: d.action,
    branch: d.branch,
    commit: d.commit,
    status: d.status as DeliveryStatus,
    reason: d.reason,
    runs: d.runs.map((r) => ({ pipeline: r.pipeline, runId: r.runId, number: r.number ?? null, error: r.error ? { code: r.error.code, message: r.error.message } : null })),
    receivedAt: isoTime(d.receivedAt)!,
    completedAt: isoTime(d.completedAt),
  };
}
