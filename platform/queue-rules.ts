/**
 * The queue registry's rules (D1 `queues`), read by the worker (uploads, tokens, claims) and by
 * every run start (platform/start-run.ts), the RunObject's dataset triggers included: a pipeline
 * whose queue no longer exists or no longer allows its project does not start.
 */
import { inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Pipeline } from "../domain/pipeline/types.ts";
import { DEFAULT_QUEUE, queueRefusal, queuesOf, type QueueRule } from "../domain/queues.ts";
import { queues } from "./db/schema.ts";
import type { Env } from "./env.ts";
import { fail, type Result } from "./result.ts";

/** `default` as the migration seeds it, in case a database was migrated by hand without the seed. */
const DEFAULT_RULE: QueueRule = { name: DEFAULT_QUEUE, projects: null };

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
 * At trigger time (every path: API, webhooks, schedules, datasets): a 403 refusal when a queue
 * the pipeline names no longer exists or no longer allows the project — the rules changed since
 * the upload. Null when every queue allows it.
 */
export async function queuesRefusal(env: Env, definition: Pipeline, project: string): Promise<Result<never> | null> {
  // Jobs stored before queues existed name none: they wait in `default`, which allows all.
  const named = queuesOf(definition.jobs.map((job) => ({ queue: job.queue ?? DEFAULT_QUEUE })));
  const rules = await queueRules(env, named);
  for (const queue of named) {
    const why = queueRefusal(rules, queue, project);
    if (why) return fail(403, "queue_not_allowed", `${why}; the pipeline was accepted before the queue changed`, { queue, project });
  }
  return null;
}
