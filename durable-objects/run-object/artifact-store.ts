/**
 * The artifacts a run's jobs uploaded, as the RunObject records them once their bytes are safe
 * in R2. Recording here (not straight into D1) means an artifact is never lost from the index
 * when D1 is down: the D1 projection picks it up like any other change.
 */
import type { ArtifactRecord } from "../../platform/artifacts.ts";

export type { ArtifactRecord };

export const ARTIFACT_MIGRATIONS = [
  `CREATE TABLE artifacts (id TEXT PRIMARY KEY, job_attempt_id TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL);
   CREATE UNIQUE INDEX artifacts_name ON artifacts (job_attempt_id, name);`,
];

export class ArtifactStore {
  constructor(private readonly sql: SqlStorage) {}

  byName(jobAttemptId: string, name: string): ArtifactRecord | null {
    const row = this.sql
      .exec<{ doc: string }>("SELECT doc FROM artifacts WHERE job_attempt_id = ? AND name = ?", jobAttemptId, name)
      .toArray()[0];
    return row ? (JSON.parse(row.doc) as ArtifactRecord) : null;
  }

  get(id: string): ArtifactRecord | null {
    const row = this.sql.exec<{ doc: string }>("SELECT doc FROM artifacts WHERE id = ?", id).toArray()[0];
    return row ? (JSON.parse(row.doc) as ArtifactRecord) : null;
  }

  /** How many artifacts a job attempt has recorded. */
  countFor(jobAttemptId: string): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM artifacts WHERE job_attempt_id = ?", jobAttemptId).one().n;
  }

  insert(record: ArtifactRecord): void {
    this.sql.exec(
      "INSERT INTO artifacts (id, job_attempt_id, name, doc) VALUES (?, ?, ?, ?)",
      record.id,
      record.jobAttemptId,
      record.name,
      JSON.stringify(record),
    );
  }

  list(): ArtifactRecord[] {
    return this.sql
      .exec<{ doc: string }>("SELECT doc FROM artifacts ORDER BY id")
      .toArray()
      .map((r) => JSON.parse(r.doc) as ArtifactRecord);
  }
}

/** Where an artifact's bytes live in R2: under its run and job attempt, so names never collide. */
