/**
 * Projects a run into D1 for listing and search. A command marks the entities it touched as
 * dirty (in the same storage transaction); a flush upserts their current state into D1 in one
 * batch and clears only the marks that did not change meanwhile. A failed flush keeps the marks
 * and is retried from the alarm, so D1 being down loses nothing: it catches up.
 */
import { drizzle } from "drizzle-orm/d1";
import type { BatchItem } from "drizzle-orm/batch";
import { artifacts, jobAttempts, jobs, runAttempts, runs, stepRuns } from "../../platform/db/schema.ts";
import type { ArtifactRecord } from "./artifact-store.ts";
import { jobStatus, type RunState, type Touched } from "../../domain/run-engine/index.ts";

type Entity = "run" | "attempt" | "job" | "job_attempt" | "artifact";

export function markEntityDirty(sql: SqlStorage, entity: Entity, id: string): void {
  sql.exec(
    `INSERT INTO d1_dirty (entity, id, version) VALUES (?, ?, 1)
     ON CONFLICT (entity, id) DO UPDATE SET version = version + 1`,
    entity,
    id,
  );
}

export function markDirty(sql: SqlStorage, state: RunState, touched: Touched): void {
  const mark = (entity: Entity, id: string) => markEntityDirty(sql, entity, id);
  if (touched.run) mark("run", state.run.id);
  for (const n of touched.attempts) mark("attempt", String(n));
  for (const id of touched.jobs) mark("job", id);
  for (const id of touched.jobAttempts) mark("job_attempt", id);
}

export function hasDirty(sql: SqlStorage): boolean {
  return sql.exec("SELECT 1 FROM d1_dirty LIMIT 1").toArray().length > 0;
}

const BATCH = 50;

/** Upserts every dirty entity into D1. Throws when D1 refuses; the marks then stay. */
export async function flushToD1(
  sql: SqlStorage,
  db: D1Database,
  state: RunState,
  now: number,
  artifactById: (id: string) => ArtifactRecord | null,
): Promise<number> {
  const marks = sql.exec<{ entity: Entity; id: string; version: number }>("SELECT entity, id, version FROM d1_dirty").toArray();
  if (marks.length === 0) return 0;
  const d1 = drizzle(db);
  const statements: BatchItem<"sqlite">[] = [];
  const { run } = state;
  const attemptIdOf = new Map(state.attempts.map((a) => [a.number, a.id]));
  const jobsById = new Map(state.attempts.flatMap((a) => a.jobs.map((j) => [j.id, { job: j, attempt: a }] as const)));
  const jobAttemptsById = new Map(
    state.attempts.flatMap((a) => a.jobs.flatMap((j) => j.attempts.map((ja) => [ja.id, { jobAttempt: ja, job: j }] as const))),
  );

  for (const mark of marks) {
    if (mark.entity === "run") {
      const row = {
        id: run.id,
        projectId: run.projectId,
        project: run.project,
        pipelineId: run.pipelineId,
        pipeline: run.pipeline,
        pipelineVersionId: run.pipelineVersionId,
        number: run.number,
        branch: run.branch,
        commit: run.commit,
        trigger: run.trigger,
        params: run.params,
        status: run.status,
        attempt: state.attempts.length,
        createdAt: run.createdAt,
        startedAt: run.startedAt,
        endedAt: run.endedAt,
        updatedAt: now,
      };
      statements.push(d1.insert(runs).values(row).onConflictDoUpdate({ target: runs.id, set: row }));
    } else if (mark.entity === "attempt") {
      const attempt = state.attempts[Number(mark.id) - 1];
      if (!attempt) continue;
      const row = {
        id: attempt.id,
        runId: run.id,
        number: attempt.number,
        status: attempt.status,
        createdAt: attempt.createdAt,
        startedAt: attempt.startedAt,
        endedAt: attempt.endedAt,
      };
      statements.push(d1.insert(runAttempts).values(row).onConflictDoUpdate({ target: runAttempts.id, set: row }));
    } else if (mark.entity === "job") {
      const found = jobsById.get(mark.id);
      if (!found) continue;
      const { job, attempt } = found;
      const latest = job.attempts[job.attempts.length - 1];
      const row = {
        id: job.id,
        runId: run.id,
        runAttemptId: attemptIdOf.get(attempt.number)!,
        key: job.key,
        status: jobStatus(job),
        needs: job.needs,
        labels: job.labels,
        outputs: job.outputs,
        agentId: latest?.agentId ?? null,
        startedAt: job.attempts[0]?.startedAt ?? null,
        endedAt: latest?.endedAt ?? null,
      };
      statements.push(d1.insert(jobs).values(row).onConflictDoUpdate({ target: jobs.id, set: row }));
    } else if (mark.entity === "artifact") {
      const record = artifactById(mark.id);
      if (!record) continue;
      statements.push(d1.insert(artifacts).values(record).onConflictDoNothing({ target: artifacts.id }));
    } else {
      const found = jobAttemptsById.get(mark.id);
      if (!found) continue;
      const { jobAttempt, job } = found;
      const row = {
        id: jobAttempt.id,
        jobId: job.id,
        runId: run.id,
        number: jobAttempt.number,
        status: jobAttempt.status,
        agentId: jobAttempt.agentId,
        reason: jobAttempt.reason,
        createdAt: jobAttempt.createdAt,
        startedAt: jobAttempt.startedAt,
        endedAt: jobAttempt.endedAt,
      };
      statements.push(d1.insert(jobAttempts).values(row).onConflictDoUpdate({ target: jobAttempts.id, set: row }));
      for (const step of jobAttempt.steps) {
        const stepRow = {
          id: `${jobAttempt.id}/${step.id}`,
          jobAttemptId: jobAttempt.id,
          runId: run.id,
          stepId: step.id,
          status: step.status,
          exitCode: step.exitCode,
          outputs: step.outputs,
          metrics: step.metrics,
          attempts: step.attempts.length,
          startedAt: step.startedAt,
          endedAt: step.endedAt,
        };
        statements.push(d1.insert(stepRuns).values(stepRow).onConflictDoUpdate({ target: stepRuns.id, set: stepRow }));
      }
    }
  }
  for (let i = 0; i < statements.length; i += BATCH) {
    const chunk = statements.slice(i, i + BATCH) as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]];
    await d1.batch(chunk);
  }
  for (const mark of marks) {
    sql.exec("DELETE FROM d1_dirty WHERE entity = ? AND id = ? AND version = ?", mark.entity, mark.id, mark.version);
  }
  return marks.length;
}
