/**
 * The queue registry in D1 (platform/db/schema.ts `queues`): the rules a pipeline's `queue:` is
 * checked against at upload (400) and at trigger (403, platform/queue-rules.ts, in every run
 * start), and the lookups of the queue routes.
 */
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { queues } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError } from "../http/errors.ts";

export type QueueRow = typeof queues.$inferSelect;

export async function findQueue(env: Env, name: string): Promise<QueueRow> {
  const row = (await drizzle(env.DB).select().from(queues).where(eq(queues.name, name)).limit(1))[0];
  if (!row) throw new ApiError(404, "queue_not_found", `no queue '${name}'`);
  return row;
}

/** The rules of the named queues (platform/queue-rules.ts, shared with run starts). */
export { queueRules } from "../../platform/queue-rules.ts";
