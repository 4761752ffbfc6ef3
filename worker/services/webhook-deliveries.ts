/**
 * Webhook deliveries (docs/triggers.md): each one is recorded in D1, refused ones included —
 * within a bound: each write trims the project's log to its newest `DELIVERIES_KEPT` rows (and
 * refused ones to `REJECTED_KEPT`), sparing only rows that still guard against a replay
 * (a dedupe key younger than `DEDUPE_WINDOW_MS`), which only authentic deliveries have.
 *
 * A delivery whose signature checks out is inserted with a dedupe key that is unique per
 * project — the SHA-256 of its body for GitHub (the delivery id is not signed, so a replay
 * could choose a new one), the optional delivery id for the generic webhook — together with
 * the runs it will start, each with its id chosen up
 * front. The insert cannot race: of two copies of a delivery only one row lands, and only that
 * request starts runs. Starting a run with a chosen id is idempotent, so a delivery cut short
 * (worker crash, D1 or Durable Object outage) is finished, not doubled, when GitHub redelivers
 * it: a row still `accepted` a while after it was received is driven again.
 */
import { and, desc, eq, inArray, lt, not, sql, type SQL } from "drizzle-orm";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import { sha256Hex } from "../../domain/tokens.ts";
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
/** A project's delivery log keeps at most this many rows (beyond them, only replay guards). */
export const DELIVERIES_KEPT = 1000;
/** …of which refused deliveries (anyone can send those) at most this many. */
export const REJECTED_KEPT = 100;
/** A body (GitHub) or delivery id (generic) seen this recently starts nothing again; its row is kept that long. */
export const DEDUPE_WINDOW_MS = 7 * 24 * 60 * 60 * 1000;

/** The dedupe key of a GitHub delivery: its signed body, not its unsigned delivery id. */
export async function bodyDedupeKey(body: Uint8Array<ArrayBuffer>): Promise<string> {
  return `sha256:${await sha256Hex(body)}`;
}

/** SQLite's OFFSET needs a LIMIT; drizzle drops a negative one. */
const NO_LIMIT = 2 ** 31;

/** The statements that trim a project's log after a write (run in the same batch as the write). */
function trim(db: DrizzleD1Database, projectId: string, now: number, rejected: boolean) {
  const t = webhookDeliveries;
  const beyond = (kept: number, ...where: SQL[]) =>
    db.select({ id: t.id }).from(t).where(and(eq(t.projectId, projectId), ...where)).orderBy(desc(t.id)).limit(NO_LIMIT).offset(kept);
  const guardsReplay = sql`(${t.dedupeKey} IS NOT NULL AND ${t.receivedAt} > ${now - DEDUPE_WINDOW_MS})`;
  const all = db.delete(t).where(and(eq(t.projectId, projectId), inArray(t.id, beyond(DELIVERIES_KEPT)), not(guardsReplay)));
  if (!rejected) return [all] as const;
  const refused = db.delete(t).where(and(eq(t.projectId, projectId), inArray(t.id, beyond(REJECTED_KEPT, eq(t.status, "rejected")))));
  return [all, refused] as const;
}

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

/**
 * Records a delivery that starts nothing and takes no dedupe slot (refused, invalid, a replay:
 * `runs` are then the runs the first copy started, for the answer and the log).
 */
export async function recordDelivery(
  env: Env,
  facts: DeliveryFacts,
  status: Exclude<DeliveryStatus, "accepted">,
  reason: string,
  runs: PlannedRun[] = [],
): Promise<DeliveryRow> {
  const record = row(facts, status, reason, runs, null);
  const db = drizzle(env.DB);
  await db.batch([db.insert(webhookDeliveries).values(record), ...trim(db, facts.projectId, record.receivedAt, status === "rejected")]);
  return record;
}

export type Claim = { kind: "new"; delivery: DeliveryRow } | { kind: "seen"; delivery: DeliveryRow };

/**
 * Inserts a verified delivery with the runs it plans (status `accepted`), or `ignored` when it
 * plans none. A dedupe key already recorded for the project answers the earlier row instead.
 */
export async function claimDelivery(
  env: Env,
  facts: DeliveryFacts,
  runs: PlannedRun[],
  ignoredReason: string | null,
  dedupeKey: string | null,
): Promise<Claim> {
  const db = drizzle(env.DB);
  const status = runs.length > 0 ? "accepted" : "ignored";
  const record = row(facts, status, runs.length > 0 ? null : ignoredReason, runs, dedupeKey);
  // With no dedupe key (a generic delivery without an id) the key is NULL, which never clashes.
  const [inserted] = await db.batch([
    db.insert(webhookDeliveries).values(record).onConflictDoNothing().returning(),
    ...trim(db, facts.projectId, record.receivedAt, false),
  ]);
  if (inserted.length > 0) return { kind: "new", delivery: inserted[0]! };
  const earlier = (
    await db
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.projectId, facts.projectId), eq(webhookDeliveries.dedupeKey, dedupeKey!)))
      .limit(1)
  )[0];
  if (!earlier) throw new Error(`delivery ${facts.deliveryId} (${dedupeKey}) clashed with a row that is gone`);
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
