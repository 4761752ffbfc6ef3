/**
 * Calls from a run to its jobs' queues' DispatcherObjects (enqueue, dequeue, release), written in
 * the same storage transaction as the state change that caused them and sent in order afterwards.
 * If a dispatcher cannot be reached they wait and are retried from the alarm: a ready job is
 * never forgotten, an agent slot never left held. Each op names its queue; ops stored before
 * queues existed name none and go to `default`, where those jobs were queued.
 */
import type { Effect, QueueItem } from "../../domain/run-engine/index.ts";
import { DEFAULT_QUEUE } from "../../domain/queues.ts";
import type { Env } from "../../platform/env.ts";
import { dispatcherStub } from "../../platform/stubs.ts";

type DispatchOp = { queue?: string } & (
  | { op: "enqueue"; items: QueueItem[] }
  | { op: "dequeue"; jobAttemptIds: string[] }
  | { op: "release"; jobAttemptId: string }
);

const opQueue = (op: DispatchOp) => op.queue ?? DEFAULT_QUEUE;

export function recordDispatchOps(sql: SqlStorage, effects: Effect[]): boolean {
  let any = false;
  for (const effect of effects) {
    let op: DispatchOp | null = null;
    if (effect.type === "enqueue") op = { op: "enqueue", queue: effect.item.queue ?? DEFAULT_QUEUE, items: [effect.item] };
    else if (effect.type === "dequeue") op = { op: "dequeue", queue: effect.queue, jobAttemptIds: effect.jobAttemptIds };
    else if (effect.type === "release") op = { op: "release", queue: effect.queue, jobAttemptId: effect.jobAttemptId };
    if (op) {
      sql.exec("INSERT INTO dispatch_outbox (op) VALUES (?)", JSON.stringify(op));
      any = true;
    }
  }
  return any;
}

export function hasDispatchOps(sql: SqlStorage): boolean {
  return sql.exec("SELECT 1 FROM dispatch_outbox LIMIT 1").toArray().length > 0;
}

/** Sends pending calls in order, merging neighbouring enqueues to one queue into one call. Throws on failure. */
export async function flushDispatchOps(sql: SqlStorage, env: Env): Promise<void> {
  for (;;) {
    const rows = sql.exec<{ seq: number; op: string }>("SELECT seq, op FROM dispatch_outbox ORDER BY seq LIMIT 200").toArray();
    if (rows.length === 0) return;
    let i = 0;
    while (i < rows.length) {
      const first = JSON.parse(rows[i]!.op) as DispatchOp;
      const dispatcher = dispatcherStub(env, opQueue(first));
      let last = i;
      if (first.op === "enqueue") {
        const sameQueueEnqueue = (op: DispatchOp) => op.op === "enqueue" && opQueue(op) === opQueue(first);
        while (last + 1 < rows.length && sameQueueEnqueue(JSON.parse(rows[last + 1]!.op) as DispatchOp)) {
          first.items.push(...(JSON.parse(rows[++last]!.op) as { items: QueueItem[] }).items);
        }
        await dispatcher.enqueue(first.items);
      } else if (first.op === "dequeue") {
        await dispatcher.dequeue(first.jobAttemptIds);
      } else {
        await dispatcher.release(first.jobAttemptId);
      }
      sql.exec("DELETE FROM dispatch_outbox WHERE seq >= ? AND seq <= ?", rows[i]!.seq, rows[last]!.seq);
      i = last + 1;
    }
  }
}
