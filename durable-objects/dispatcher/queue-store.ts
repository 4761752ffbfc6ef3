/**
 * The dispatcher's queue in its own SQLite storage. Order: priority (higher first), then
 * position (by default the order in which jobs became ready; changed by a person's reorder),
 * then age. A row is `queued` until an agent is assigned, then `assigned` until released.
 */
import type { QueueItem } from "../../domain/run-engine/effects.ts";

export interface QueueRow extends QueueItem {
  position: number;
  state: "queued" | "assigned";
  agentId: string | null;
  agentName: string | null;
  assignedAt: number | null;
}

interface SqlRow extends Record<string, SqlStorageValue> {
  job_attempt_id: string;
  doc: string;
  priority: number;
  position: number;
  state: string;
  agent_id: string | null;
  agent_name: string | null;
  assigned_at: number | null;
}

export const QUEUE_MIGRATIONS = [
  `CREATE TABLE queue (
     job_attempt_id TEXT PRIMARY KEY, doc TEXT NOT NULL, priority INTEGER NOT NULL, position REAL NOT NULL,
     state TEXT NOT NULL, agent_id TEXT, agent_name TEXT, assigned_at INTEGER);
   CREATE INDEX queue_order ON queue (state, priority DESC, position);
   CREATE INDEX queue_agent ON queue (agent_id);
   CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);`,
  // The label set a job requires, as a key (its labels sorted, as JSON), so that a claim reads
  // only the label sets the agent can satisfy instead of every queued job ahead of its match.
  `ALTER TABLE queue ADD COLUMN labels_key TEXT NOT NULL DEFAULT '[]';
   UPDATE queue SET labels_key = (SELECT json_group_array(value) FROM (SELECT DISTINCT value FROM json_each(queue.doc, '$.labels') ORDER BY value));
   CREATE INDEX queue_by_labels ON queue (state, labels_key, priority DESC, position);`,
];

/** The key of a set of required labels: sorted, without repeats, as JSON (what the migration's SQL builds). */
export function labelsKey(labels: readonly string[]): string {
  return JSON.stringify([...new Set(labels)].sort());
}

function toRow(r: SqlRow): QueueRow {
  const item = JSON.parse(r.doc) as QueueItem;
  return {
    ...item,
    priority: r.priority,
    position: r.position,
    state: r.state as QueueRow["state"],
    agentId: r.agent_id,
    agentName: r.agent_name,
    assignedAt: r.assigned_at,
  };
}

export class QueueStore {
  constructor(private readonly sql: SqlStorage) {}

  private nextPosition(): number {
    const row = this.sql
      .exec<{ value: number }>(
        "INSERT INTO counters (name, value) VALUES ('position', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
      )
      .one();
    return row.value;
  }

  /** Adds items not already known (enqueueing is idempotent by job attempt id). Returns the new ones. */
  add(items: QueueItem[]): QueueItem[] {
    const added: QueueItem[] = [];
    for (const item of items) {
      if (this.get(item.jobAttemptId)) continue;
      this.sql.exec(
        "INSERT INTO queue (job_attempt_id, doc, priority, position, state, labels_key) VALUES (?, ?, ?, ?, 'queued', ?)",
        item.jobAttemptId,
        JSON.stringify(item),
        item.priority,
        this.nextPosition(),
        labelsKey(item.labels),
      );
      added.push(item);
    }
    return added;
  }

  get(jobAttemptId: string): QueueRow | null {
    const r = this.sql.exec<SqlRow>("SELECT * FROM queue WHERE job_attempt_id = ?", jobAttemptId).toArray()[0];
    return r ? toRow(r) : null;
  }

  /** Queued rows in claim order, lazily, so a claim stops reading at the first match. */
  *queuedInOrder(): Generator<QueueRow> {
    for (const r of this.sql.exec<SqlRow>("SELECT * FROM queue WHERE state = 'queued' ORDER BY priority DESC, position ASC")) {
      yield toRow(r);
    }
  }

  /**
   * The first queued row, in claim order, whose required labels `accepts` — reading one row per
   * distinct label set rather than every row ahead of the match, so that a claim costs the same
   * behind 10 or 10,000 jobs the agent cannot take. Rows in `passOver` (being handed out right
   * now) are skipped.
   */
  firstQueuedMatching(accepts: (labels: string[]) => boolean, passOver: ReadonlySet<string> = new Set()): QueueRow | null {
    // The distinct label sets of queued rows, by hopping through the index (a skip scan).
    const keys = this.sql
      .exec<{ key: string }>(
        `WITH RECURSIVE k(key) AS (
           SELECT min(labels_key) FROM queue WHERE state = 'queued'
           UNION ALL
           SELECT (SELECT min(labels_key) FROM queue WHERE state = 'queued' AND labels_key > k.key) FROM k WHERE k.key IS NOT NULL)
         SELECT key FROM k WHERE key IS NOT NULL`,
      )
      .toArray()
      .map((r) => r.key)
      .filter((key) => accepts(JSON.parse(key) as string[]));
    let best: SqlRow | null = null;
    for (const key of keys) {
      const head = this.sql
        .exec<SqlRow>(
          "SELECT * FROM queue WHERE state = 'queued' AND labels_key = ? ORDER BY priority DESC, position ASC LIMIT ?",
          key,
          passOver.size + 1,
        )
        .toArray()
        .find((row) => !passOver.has(row.job_attempt_id));
      if (head && (!best || head.priority > best.priority || (head.priority === best.priority && head.position < best.position))) {
        best = head;
      }
    }
    return best ? toRow(best) : null;
  }

  assigned(): QueueRow[] {
    return this.sql.exec<SqlRow>("SELECT * FROM queue WHERE state = 'assigned' ORDER BY assigned_at").toArray().map(toRow);
  }

  assignedTo(agentId: string): QueueRow[] {
    return this.sql.exec<SqlRow>("SELECT * FROM queue WHERE agent_id = ? AND state = 'assigned'", agentId).toArray().map(toRow);
  }

  /** When the longest-waiting queued job became ready, or null for an empty queue. */
  oldestQueuedReadyAt(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT min(json_extract(doc, '$.readyAt')) AS t FROM queue WHERE state = 'queued'").one().t;
  }

  queuedCount(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM queue WHERE state = 'queued'").one().n;
  }

  markAssigned(jobAttemptId: string, agentId: string, agentName: string, now: number): void {
    this.sql.exec(
      "UPDATE queue SET state = 'assigned', agent_id = ?, agent_name = ?, assigned_at = ? WHERE job_attempt_id = ?",
      agentId,
      agentName,
      now,
      jobAttemptId,
    );
  }

  /** Removes rows; with `onlyQueued`, leaves assigned ones (their run stops them through the agent). */
  remove(jobAttemptIds: string[], onlyQueued = false): string[] {
    const removed: string[] = [];
    for (const id of jobAttemptIds) {
      const cursor = this.sql.exec(
        `DELETE FROM queue WHERE job_attempt_id = ?${onlyQueued ? " AND state = 'queued'" : ""} RETURNING job_attempt_id`,
        id,
      );
      if (cursor.toArray().length > 0) removed.push(id);
    }
    return removed;
  }

  /** Moves a queued row just before or after another queued row, taking that row's priority. */
  move(jobAttemptId: string, anchorId: string, where: "before" | "after"): boolean {
    const anchor = this.get(anchorId);
    const moving = this.get(jobAttemptId);
    if (!anchor || !moving || anchor.state !== "queued" || moving.state !== "queued") return false;
    const neighbour = this.sql
      .exec<{ position: number }>(
        where === "before"
          ? "SELECT position FROM queue WHERE state = 'queued' AND priority = ? AND position < ? AND job_attempt_id != ? ORDER BY position DESC LIMIT 1"
          : "SELECT position FROM queue WHERE state = 'queued' AND priority = ? AND position > ? AND job_attempt_id != ? ORDER BY position ASC LIMIT 1",
        anchor.priority,
        anchor.position,
        jobAttemptId,
      )
      .toArray()[0];
    const position =
      neighbour === undefined
        ? anchor.position + (where === "before" ? -1 : 1)
        : (anchor.position + neighbour.position) / 2;
    this.sql.exec("UPDATE queue SET priority = ?, position = ? WHERE job_attempt_id = ?", anchor.priority, position, jobAttemptId);
    return true;
  }
}
