/**
 * The RunObject's own SQLite storage: the run's model (one row per entity, JSON documents),
 * its transition history, and the schema version. Writes happen inside the caller's
 * `transactionSync`, so a command's changes land together or not at all.
 */
import type { HistoryIndex } from "../../domain/run-engine/view.ts";
import type {
  JobAttemptState,
  JobState,
  RunAttemptState,
  RunInfo,
  RunState,
  Touched,
  TransitionEffect,
} from "../../domain/run-engine/index.ts";

/** Each entry migrates the schema from version i to i+1. Never edit one that has shipped. */
export const RUN_MIGRATIONS: string[] = [
  `CREATE TABLE run (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
   CREATE TABLE attempts (number INTEGER PRIMARY KEY, doc TEXT NOT NULL);
   CREATE TABLE jobs (id TEXT PRIMARY KEY, attempt INTEGER NOT NULL, position INTEGER NOT NULL, doc TEXT NOT NULL);
   CREATE TABLE job_attempts (id TEXT PRIMARY KEY, job_id TEXT NOT NULL, number INTEGER NOT NULL, doc TEXT NOT NULL);
   CREATE TABLE history (
     seq INTEGER PRIMARY KEY AUTOINCREMENT, entity TEXT NOT NULL, entity_id TEXT NOT NULL,
     from_state TEXT, to_state TEXT NOT NULL, at INTEGER NOT NULL, reason TEXT, run_attempt INTEGER NOT NULL,
     job_key TEXT, job_attempt_id TEXT, step_id TEXT, step_attempt INTEGER);
   CREATE INDEX history_entity ON history (entity_id);
   CREATE TABLE dispatch_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL);
   CREATE TABLE d1_dirty (entity TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (entity, id));
   CREATE TABLE outbox_status (name TEXT PRIMARY KEY, failures INTEGER NOT NULL, next_at INTEGER NOT NULL, last_error TEXT);`,
];

type Doc = { doc: string };

export function loadRun(sql: SqlStorage): RunState | null {
  const runRow = sql.exec<Doc>("SELECT doc FROM run").toArray()[0];
  if (!runRow) return null;
  const run = JSON.parse(runRow.doc) as RunInfo;
  const attemptsByNumber = new Map<number, RunAttemptState>();
  for (const { doc } of sql.exec<Doc>("SELECT doc FROM attempts ORDER BY number")) {
    const attempt = JSON.parse(doc) as RunAttemptState;
    attempt.jobs = [];
    attemptsByNumber.set(attempt.number, attempt);
  }
  const jobsById = new Map<string, JobState>();
  for (const row of sql.exec<Doc & { attempt: number }>("SELECT attempt, doc FROM jobs ORDER BY attempt, position")) {
    const job = JSON.parse(row.doc) as JobState;
    job.attempts = [];
    jobsById.set(job.id, job);
    attemptsByNumber.get(row.attempt)?.jobs.push(job);
  }
  for (const row of sql.exec<Doc & { job_id: string }>("SELECT job_id, doc FROM job_attempts ORDER BY job_id, number")) {
    jobsById.get(row.job_id)?.attempts.push(JSON.parse(row.doc) as JobAttemptState);
  }
  return { run, attempts: [...attemptsByNumber.values()] };
}

/** Writes the entities a command touched. Call inside `transactionSync`. */
export function saveTouched(sql: SqlStorage, state: RunState, touched: Touched): void {
  if (touched.run) sql.exec("INSERT OR REPLACE INTO run (id, doc) VALUES (?, ?)", state.run.id, JSON.stringify(state.run));
  for (const attempt of state.attempts) {
    if (touched.attempts.has(attempt.number)) {
      const { jobs: _jobs, ...doc } = attempt;
      sql.exec("INSERT OR REPLACE INTO attempts (number, doc) VALUES (?, ?)", attempt.number, JSON.stringify(doc));
    }
  }
  // Only the current attempt changes once a later one exists.
  const current = state.attempts[state.attempts.length - 1];
  if (!current) return;
  current.jobs.forEach((job, position) => {
    if (touched.jobs.has(job.id)) {
      const { attempts: _attempts, ...doc } = job;
      sql.exec(
        "INSERT OR REPLACE INTO jobs (id, attempt, position, doc) VALUES (?, ?, ?, ?)",
        job.id,
        current.number,
        position,
        JSON.stringify(doc),
      );
    }
    for (const jobAttempt of job.attempts) {
      if (touched.jobAttempts.has(jobAttempt.id)) {
        sql.exec(
          "INSERT OR REPLACE INTO job_attempts (id, job_id, number, doc) VALUES (?, ?, ?, ?)",
          jobAttempt.id,
          job.id,
          jobAttempt.number,
          JSON.stringify(jobAttempt),
        );
      }
    }
  });
}

export function appendHistory(sql: SqlStorage, transitions: TransitionEffect[]): void {
  for (const t of transitions) {
    sql.exec(
      `INSERT INTO history (entity, entity_id, from_state, to_state, at, reason, run_attempt, job_key, job_attempt_id, step_id, step_attempt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      t.entity,
      t.id,
      t.from,
      t.to,
      t.at,
      t.reason,
      t.runAttempt,
      t.jobKey ?? null,
      t.jobAttemptId ?? null,
      t.stepId ?? null,
      t.stepAttempt ?? null,
    );
  }
}

interface HistoryRow extends Record<string, SqlStorageValue> {
  entity: string;
  entity_id: string;
  from_state: string | null;
  to_state: string;
  at: number;
  reason: string | null;
  run_attempt: number;
}

/** Transitions of runs, run attempts and job attempts, grouped by entity id, oldest first. */
export function historyIndex(sql: SqlStorage): HistoryIndex {
  const index: HistoryIndex = new Map();
  for (const row of sql.exec<HistoryRow>(
    "SELECT entity, entity_id, from_state, to_state, at, reason, run_attempt FROM history WHERE entity != 'step' ORDER BY seq",
  )) {
    const list = index.get(row.entity_id) ?? [];
    list.push({
      type: "transition",
      entity: row.entity as TransitionEffect["entity"],
      id: row.entity_id,
      from: row.from_state as TransitionEffect["from"],
      to: row.to_state as TransitionEffect["to"],
      at: row.at,
      reason: row.reason,
      runAttempt: row.run_attempt,
    });
    index.set(row.entity_id, list);
  }
  return index;
}
