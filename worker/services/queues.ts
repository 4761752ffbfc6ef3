/**
 * The queue registry in D1 (platform/db/schema.ts `queues`): the rules a pipeline's `queue:` is
 * checked against at upload (400) and at trigger (403), and the lookups of the queue routes.
 */
import { eq, inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Pipeline } from "../../domain/pipeline/types.ts";
import { DEFAULT_QUEUE, queueRefusal, queuesOf, type QueueRule } from "../../domain/queues.ts";
import { queues } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError } from "../http/errors.ts";

export type QueueRow = typeof queues.$inferSelect;

/** `default` as the migration seeds it, in case a database was migrated by hand without the seed. */
const DEFAULT_RULE: QueueRule = { name: DEFAULT_QUEUE, projects: null };

export async function findQueue(env: Env, name: string): Promise<QueueRow> {
  const row = (await drizzle(env.DB).select().from(queues).where(eq(queues.name, name)).limit(1))[0];
  if (!row) throw new ApiError(404, "queue_not_found", `no queue '${name}'`);
  return row;
}

/** The rules of the named queues (one read), unknown ones left out. */
export async function queueRules(env: Env, names: string[]): Promise<Map<string, QueueRule>> {
  const rules = new Map<string, QueueRule>([[DEFAULT_QUEUE, DEFAULT_RULE]]);
  const others = names.filter((n) => n !== DEFAULT_QUEUE);
  if (others.length === 0) return rules;
  const rows = await drizzle(env.DB).select({ name: queues.name, projects: queues.projects }).from(queues).where(inArray(queues.name, others));
  for (const row of rows) rules.set(row.name, row);
  return rules;
}

/**
 * At trigger time (every path: API, webhooks, schedules): 403 when a queue the pipeline names no
 * longer exists or no longer allows the project — the rules changed since the upload.
 */
export async function requireQueuesAllow(env: Env, definition: Pipeline, project: string): Promise<void> {
  // Jobs stored before queues existed name none: they wait in `default`, which allows all.
  const named = queuesOf(definition.jobs.map((job) => ({ queue: job.queue ?? DEFAULT_QUEUE })));
  const rules = await queueRules(env, named);
  for (const queue of named) {
    const why = queueRefusal(rules, queue, project);
    if (why) throw new ApiError(403, "queue_not_allowed", `${why}; the pipeline was accepted before the queue changed`, { queue, project });
  }
}
