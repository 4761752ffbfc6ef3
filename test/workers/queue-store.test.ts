/**
 * The dispatcher's queue picks a claim's job through an index of label sets instead of reading
 * every queued job in order. These tests hold it to the rule it replaced: the first queued job,
 * in claim order (priority, then position), whose required labels the agent carries — checked
 * against that plain scan over random queues in a real Durable Object's SQLite storage.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { QueueItem } from "../../domain/run-engine/effects.ts";
import { QUEUE_MIGRATIONS, QueueStore, labelsKey } from "../../durable-objects/dispatcher/queue-store.ts";
import { migrate } from "../../durable-objects/sql-migrations.ts";

let dispatchers = 0;
/** A fresh DispatcherObject's storage, its queue emptied and migrated to `version` (all by default). */
function withQueue<T>(fn: (sql: SqlStorage) => T, version = QUEUE_MIGRATIONS.length): Promise<T> {
  const stub = env.DISPATCHER.get(env.DISPATCHER.idFromName(`queue-store-${++dispatchers}`));
  return runInDurableObject(stub, (_instance, state) => {
    const sql = state.storage.sql;
    sql.exec("DROP TABLE IF EXISTS queue; DROP TABLE IF EXISTS counters; DELETE FROM schema_versions WHERE name = 'queue'");
    migrate(sql, [{ name: "queue", statements: QUEUE_MIGRATIONS.slice(0, version) }]);
    return fn(sql);
  });
}

const item = (n: number, labels: string[], priority: number): QueueItem => ({
  jobAttemptId: `job-${n}`,
  runId: `run-${n}`,
  runNumber: n,
  project: "p",
  pipeline: "ci",
  jobKey: `job${n}`,
  runAttempt: 1,
  jobAttempt: 1,
  labels,
  priority,
  readyAt: 1_000 + n,
});

const carries = (agent: string[]) => (required: string[]) => required.every((l) => agent.includes(l));

/** The rule, as the dispatcher used to apply it: read the queue in order, take the first match. */
function firstByScan(queue: QueueStore, agent: string[]) {
  for (const row of queue.queuedInOrder()) if (carries(agent)(row.labels)) return row.jobAttemptId;
  return null;
}

const LABELS = ["linux", "arm64", "gpu", "macos"];
const labelSet = fc.uniqueArray(fc.constantFrom(...LABELS), { maxLength: 3 });

describe("queue: the job a claim takes", () => {
  it("is the first queued job in claim order whose labels the agent carries, whatever the queue", async () => {
    await withQueue((sql) => {
      fc.assert(
        fc.property(
          fc.array(fc.record({ labels: labelSet, priority: fc.integer({ min: 0, max: 2 }) }), { maxLength: 30 }),
          fc.array(fc.nat(), { maxLength: 5 }),
          fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean()), { maxLength: 3 }),
          labelSet,
          (jobs, assignedPicks, moves, agent) => {
            sql.exec("DELETE FROM queue");
            const queue = new QueueStore(sql);
            queue.add(jobs.map((j, n) => item(n, j.labels, j.priority)));
            // Some jobs already taken, some moved by hand: neither may change the rule.
            for (const pick of assignedPicks) if (jobs.length > 0) queue.markAssigned(`job-${pick % jobs.length}`, "a", "a", 1);
            for (const [from, to, before] of moves) {
              if (jobs.length > 1) queue.move(`job-${from % jobs.length}`, `job-${to % jobs.length}`, before ? "before" : "after");
            }
            expect(queue.firstQueuedMatching(carries(agent))?.jobAttemptId ?? null).toBe(firstByScan(queue, agent));
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  it("is found behind thousands of jobs the agent cannot take", async () => {
    const picked = await withQueue((sql) => {
      const queue = new QueueStore(sql);
      queue.add(Array.from({ length: 5_000 }, (_, n) => item(n, ["gpu"], 0)));
      queue.add([item(5_000, ["linux"], 0)]);
      return queue.firstQueuedMatching(carries(["linux", "arm64"]))?.jobAttemptId;
    });
    expect(picked).toBe("job-5000");
  });

  it("still finds jobs queued before the label index existed (the migration fills it in)", async () => {
    const picked = await withQueue((sql) => {
      // Rows as the first version of the schema wrote them.
      sql.exec("INSERT INTO counters (name, value) VALUES ('position', 0)");
      for (const [n, labels] of [[1, ["gpu"]], [2, ["macos", "arm64", "macos"]], [3, []]] as const) {
        sql.exec(
          "INSERT INTO queue (job_attempt_id, doc, priority, position, state) VALUES (?, ?, 0, ?, 'queued')",
          `job-${n}`,
          JSON.stringify(item(n, [...labels], 0)),
          n,
        );
      }
      migrate(sql, [{ name: "queue", statements: QUEUE_MIGRATIONS }]);
      const keys = sql.exec<{ labels_key: string }>("SELECT labels_key FROM queue ORDER BY position").toArray().map((r) => r.labels_key);
      const queue = new QueueStore(sql);
      return { keys, macArm: queue.firstQueuedMatching(carries(["arm64", "macos"]))?.jobAttemptId };
    }, 1);
    expect(picked.keys).toEqual([labelsKey(["gpu"]), labelsKey(["arm64", "macos"]), labelsKey([])]);
    expect(picked.macArm).toBe("job-2");
  });
});
