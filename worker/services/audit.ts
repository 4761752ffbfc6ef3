/**
 * The audit log (docs/security.md "The audit log"): who did what, where, when, from which IP.
 * `auditRow` builds the insert that a handler puts in the SAME `db.batch([...])` as the change
 * it records — D1 runs a batch as one transaction, so a row exists exactly when the change
 * happened. Actions on a run (trigger, cancel, re-run, approval, job cancel) are recorded by the
 * run's object itself, in the command's transaction, and reach D1 through its audit outbox
 * (durable-objects/run-object/audit-outbox.ts): a route hands the object `auditContext(c)`.
 */
import { and, asc, desc, eq, inArray, lt, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Context } from "hono";
import { uuidv7 } from "uuidv7";
import { auditEvents } from "../../platform/db/schema.ts";
import type { Actor, AuditContext, AuditFacts } from "../../platform/audit.ts";
import type { Env } from "../../platform/env.ts";
import type { AppEnv } from "../auth/authenticate.ts";
import type { Principal } from "../auth/principal.ts";

/** The admin token is the deployment's own key: recorded as the `system` actor `admin`. */
export function actorOf(principal: Principal): Actor {
  if (principal.kind === "admin") return { kind: "system", id: "admin-token", name: "admin token" };
  if (principal.kind === "token") return { kind: "token", id: principal.tokenId, name: principal.owner ? `${principal.name} (${principal.owner})` : principal.name };
  return { kind: "user", id: principal.email, name: principal.email };
}

/** The caller of a user-API request and their address (`CF-Connecting-IP`, set by Cloudflare). */
export function auditContext(c: Context<AppEnv>): AuditContext {
  return { actor: actorOf(c.var.principal), ip: c.req.header("cf-connecting-ip") ?? null };
}

/** The insert of one audit row, to put in the batch of the change it records. */
export function auditRow(env: Env, who: AuditContext, facts: AuditFacts, at = Date.now()) {
  return drizzle(env.DB)
    .insert(auditEvents)
    .values({
      id: uuidv7(),
      at,
      actorKind: who.actor.kind,
      actorId: who.actor.id,
      actorName: who.actor.name,
      action: facts.action,
      project: facts.project ?? null,
      target: facts.target ?? null,
      ip: who.ip,
    });
}

/**
 * The insert of an audit row that happens only if the statement just before it in the batch
 * changed a row (SQLite's `changes()`): a revoke of a token already revoked, or the removal of a
 * role the person does not have, records nothing. A raw D1 statement (drizzle's batch cannot
 * bind a raw query with parameters): batch it with `env.DB.batch([d1Statement(env, change), this])`.
 */
export function auditRowIfChanged(env: Env, who: AuditContext, facts: AuditFacts, at = Date.now()): D1PreparedStatement {
  return env.DB.prepare(
    `INSERT INTO audit_events (id, at, actor_kind, actor_id, actor_name, action, project, target, ip)
     SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE changes() > 0`,
  ).bind(uuidv7(), at, who.actor.kind, who.actor.id, who.actor.name, facts.action, facts.project ?? null, facts.target ?? null, who.ip);
}

/** A drizzle write as a raw D1 statement, to batch with `auditRowIfChanged`. */
export function d1Statement(env: Env, query: { toSQL(): { sql: string; params: unknown[] } }): D1PreparedStatement {
  const { sql: text, params } = query.toSQL();
  return env.DB.prepare(text).bind(...params);
}

/**
 * Records what a dispatcher has just confirmed (a reorder of its queue, which has no outbox to
 * D1): the change is done, so a failed audit write is logged rather than turned into an error
 * the caller would retry (and so repeat the action).
 */
export async function recordAfter(c: Context<AppEnv>, facts: AuditFacts): Promise<void> {
  try {
    await auditRow(c.env, auditContext(c), facts);
  } catch (error) {
    console.error(`audit: ${facts.action} of ${facts.target} not recorded`, error);
  }
}

/** How long audit rows are kept, and how many one cron tick deletes at most. */
export const AUDIT_RETENTION_DAYS = 365;

/** YM_AUDIT_RETENTION_DAYS when it is a positive number, else the default. */
export function auditRetentionDays(env: Env): number {
  const days = Number(env.YM_AUDIT_RETENTION_DAYS);
  return Number.isFinite(days) && days > 0 ? days : AUDIT_RETENTION_DAYS;
}
export const AUDIT_TRIM_BATCH = 1000;

/** Deletes up to AUDIT_TRIM_BATCH rows older than the retention (bounded: the cron runs every minute). */
export async function trimAuditLog(env: Env, now: number, retentionDays = AUDIT_RETENTION_DAYS): Promise<number> {
  const before = now - retentionDays * 24 * 3600 * 1000;
  const result = await env.DB.prepare(
    "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < ? ORDER BY at LIMIT ?)",
  )
    .bind(before, AUDIT_TRIM_BATCH)
    .run();
  return result.meta.changes ?? 0;
}

export interface AuditQuery {
  project?: string;
  actor?: string;
  action?: string;
  cursor?: string;
  limit: number;
}

/** A page of the log, newest first; the cursor is the last row's id (uuidv7 orders by time). */
export async function listAudit(env: Env, q: AuditQuery) {
  const where: SQL[] = [];
  if (q.project) where.push(eq(auditEvents.project, q.project));
  if (q.actor) where.push(eq(auditEvents.actorId, q.actor));
  if (q.action) where.push(eq(auditEvents.action, q.action));
  if (q.cursor) where.push(lt(auditEvents.id, q.cursor));
  const rows = await drizzle(env.DB)
    .select()
    .from(auditEvents)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(auditEvents.id))
    .limit(q.limit + 1);
  const page = rows.slice(0, q.limit);
  return {
    items: page.map((r) => ({
      id: r.id,
      at: new Date(r.at).toISOString(),
      actor: { kind: r.actorKind, id: r.actorId, name: r.actorName },
      action: r.action,
      project: r.project,
      target: r.target,
      ip: r.ip,
    })),
    cursor: rows.length > q.limit ? page[page.length - 1]!.id : null,
  };
}

/** Who triggered, cancelled, re-ran or approved (or rejected) a run, oldest first (the run view's `triggeredBy` and `actions`). */
export async function runActions(env: Env, runId: string) {
  const rows = await drizzle(env.DB)
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.target, runId), inArray(auditEvents.action, ["run.trigger", "run.cancel", "run.rerun", "run.approve", "run.reject"])))
    .orderBy(asc(auditEvents.id))
    .limit(100);
  const actions = rows.map((r) => ({ action: r.action, actor: { kind: r.actorKind, id: r.actorId, name: r.actorName }, at: new Date(r.at).toISOString() }));
  return { triggeredBy: actions.find((a) => a.action === "run.trigger")?.actor ?? null, actions };
}
