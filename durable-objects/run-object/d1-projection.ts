/**
 * Projects a run into D1 for listing and search. A command marks the entities it touched as
 * dirty (in the same storage transaction, so an eviction loses no mark); a flush upserts their
 * current state into D1 in one batch (./d1-projection-writer.ts) and clears only the marks that
 * did not change meanwhile. Flushes are coalesced (./outboxes.ts): one per run per short interval,
 * and at once when a job or the run ends. A job attempt's step rows are written once, when it has
 * ended (the history and the baseline gates read only ended steps). A failed flush keeps the
 * marks and is retried from the alarm, so D1 being down loses nothing: it catches up.
 */
import { isTerminal } from "../../domain/states.ts";
import { jobStatus, type RunState, type Touched } from "../../domain/run-engine/index.ts";
import type { ArtifactRecord } from "./artifact-store.ts";
import type { D1ProjectionWriter, ProjectedTable, ProjectionRow } from "./d1-projection-writer.ts";

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

/**
 * Upserts the dirty entities (only the run's own row with `runOnly`) into D1. Throws when D1
 * refuses; the marks then stay. Answers the number of statements sent.
 */
export async function flushToD1(
  sql: SqlStorage,
  writer: D1ProjectionWriter,
  state: RunState,
  now: number,
  artifactById: (id: string) => ArtifactRecord | null,
  runOnly = false,
): Promise<number> {
  const marks = sql
    .exec<{ entity: Entity; id: string; version: number }>(`SELECT entity, id, version FROM d1_dirty${runOnly ? " WHERE entity = 'run'" : ""}`)
    .toArray();
  if (marks.length === 0) return 0;
  const sent = await writer.write(projectionRows(state, marks, now, artifactById));
  for (const mark of marks) {
    sql.exec("DELETE FROM d1_dirty WHERE entity = ? AND id = ? AND version = ?", mark.entity, mark.id, mark.version);
  }
  return sent;
}

/** The current rows of the marked entities, by table. */
function projectionRows(
  state: RunState,
  marks: { entity: Entity; id: string }[],
  now: number,
  artifactById: (id: string) => ArtifactRecord | null,
): Record<ProjectedTable, ProjectionRow[]> {
  const rows: Record<ProjectedTable, ProjectionRow[]> = { runs: [], runAttempts: [], jobs: [], jobAttempts: [], stepRuns: [], artifacts: [] };
  const { run } = state;
  const attemptIdOf = new Map(state.attempts.map((a) => [a.number, a.id]));
  const jobsById = new Map(state.attempts.flatMap((a) => a.jobs.map((j) => [j.id, { job: j, attempt: a }] as const)));
  const jobAttemptsById = new Map(
    state.attempts.flatMap((a) => a.jobs.flatMap((j) => j.attempts.map((ja) => [ja.id, { jobAttempt: ja, job: j }] as const))),
  );
  for (const mark of marks) {
    if (mark.entity === "run") {
      rows.runs.push({
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
      });
    } else if (mark.entity === "attempt") {
      const attempt = state.attempts[Number(mark.id) - 1];
      if (!attempt) continue;
      const { id, number, status, createdAt, startedAt, endedAt } = attempt;
      rows.runAttempts.push({ id, runId: run.id, number, status, createdAt, startedAt, endedAt });
    } else if (mark.entity === "job") {
      const found = jobsById.get(mark.id);
      if (!found) continue;
      const { job, attempt } = found;
      const latest = job.attempts[job.attempts.length - 1];
      rows.jobs.push({
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
      });
    } else if (mark.entity === "artifact") {
      const record = artifactById(mark.id);
      if (record) rows.artifacts.push({ ...record });
    } else {
      const found = jobAttemptsById.get(mark.id);
      if (!found) continue;
      const { jobAttempt, job } = found;
      const { id, number, status, agentId, reason, createdAt, startedAt, endedAt } = jobAttempt;
      rows.jobAttempts.push({ id, jobId: job.id, runId: run.id, number, status, agentId, reason, createdAt, startedAt, endedAt });
      if (!isTerminal(status)) continue;
      for (const step of jobAttempt.steps) {
        rows.stepRuns.push({
          id: `${id}/${step.id}`,
          jobAttemptId: id,
          runId: run.id,
          stepId: step.id,
          status: step.status,
          exitCode: step.exitCode,
          outputs: step.outputs,
          metrics: step.metrics,
          attempts: step.attempts.length,
          startedAt: step.startedAt,
          endedAt: step.endedAt,
        });
      }
    }
  }
  return rows;
}
