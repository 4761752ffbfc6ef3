/**
 * The artifacts a run's jobs uploaded, as the RunObject records them once their bytes are safe
 * in R2. Recording here (not straight into D1) means an artifact is never lost from the index
 * when D1 is down: the D1 projection picks it up like any other change.
 */
import { uuidv7 } from "uuidv7";
import { artifactKey, type ArtifactRecord, MAX_ARTIFACTS_PER_JOB } from "../../platform/artifacts.ts";
import { fail, ok, type Result } from "../../platform/result.ts";
import { markEntityDirty } from "./d1-projection.ts";
import type { JobIdentity } from "./job-auth.ts";

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

  /**
   * The record of an artifact whose bytes are stored under `artifactKey(..., uploadId, name)`, to
   * insert — or the existing one when this name was recorded before with the same bytes (a retried
   * upload; its key may be another upload's: `fresh` is false), or a refusal (other bytes, too many).
   */
  recordFor(
    job: JobIdentity,
    meta: { name: string; size: number; sha256: string; contentType: string },
    uploadId: string,
    now: number,
  ): Result<{ record: ArtifactRecord; fresh: boolean }> {
    const existing = this.byName(job.jobAttemptId, meta.name);
    if (existing) {
      return existing.sha256 === meta.sha256
        ? ok({ record: existing, fresh: false })
        : fail(409, "artifact_exists", `this job already uploaded an artifact named '${meta.name}' with other content`);
    }
    if (this.countFor(job.jobAttemptId) >= MAX_ARTIFACTS_PER_JOB) {
      return fail(413, "too_many_artifacts", `a job may upload at most ${MAX_ARTIFACTS_PER_JOB} artifacts`);
    }
    const record: ArtifactRecord = {
      id: uuidv7(),
      projectId: job.projectId,
      project: job.project,
      runId: job.runId,
      runNumber: job.runNumber,
      pipeline: job.pipeline,
      attempt: job.runAttempt,
      job: job.jobKey,
      jobAttemptId: job.jobAttemptId,
      ...meta,
      r2Key: artifactKey(job.runId, job.jobAttemptId, uploadId, meta.name),
      createdAt: now,
    };
    return ok({ record, fresh: true });
  }

  /** recordFor, then a fresh record inserted and marked for the D1 projection in one transaction. */
  record(
    storage: DurableObjectStorage,
    job: JobIdentity,
    meta: { name: string; size: number; sha256: string; contentType: string },
    uploadId: string,
    now: number,
  ): Result<{ record: ArtifactRecord; fresh: boolean }> {
    const recorded = this.recordFor(job, meta, uploadId, now);
    if (recorded.ok && recorded.value.fresh) {
      const { record } = recorded.value;
      storage.transactionSync(() => {
        this.insert(record);
        markEntityDirty(this.sql, "artifact", record.id);
      });
    }
    return recorded;
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
