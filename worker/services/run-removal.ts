/**
 * Deleting runs and artifacts (DELETE /api/v1/runs/:run, DELETE /api/v1/artifacts/:artifact, and
 * the retention cron): R2 objects and the run's object first, then the D1 rows in one batch. A
 * failure after the object is gone leaves only D1 rows, which a retry deletes (the object then
 * answers that it holds nothing): never R2 bytes without a row that could find them.
 */
import type { Env } from "../../platform/env.ts";
import { runStub } from "../../platform/stubs.ts";
import { unwrap } from "../http/errors.ts";

/** The D1 tables with a `run_id` column (platform/db/schema.ts), besides `runs` itself. */
const RUN_TABLES = ["run_attempts", "jobs", "job_attempts", "step_runs", "artifacts"] as const;

/** Deletes a run everywhere; 409 `run_active` while it runs. Answers the R2 objects removed. */
export async function deleteRun(env: Env, runId: string): Promise<{ objects: number }> {
  const { objects } = unwrap(await runStub(env, runId).destroy(runId));
  await deleteRunRows(env, [runId]);
  return { objects };
}

/** The D1 rows of these runs, in one batch. */
export async function deleteRunRows(env: Env, runIds: readonly string[]): Promise<void> {
  if (runIds.length === 0) return;
  const marks = runIds.map(() => "?").join(",");
  await env.DB.batch([
    ...RUN_TABLES.map((table) => env.DB.prepare(`DELETE FROM ${table} WHERE run_id IN (${marks})`).bind(...runIds)),
    env.DB.prepare(`DELETE FROM runs WHERE id IN (${marks})`).bind(...runIds),
  ]);
}

/** Deletes one artifact's bytes and its row. */
export async function deleteArtifact(env: Env, artifact: { id: string; r2Key: string }): Promise<void> {
  await env.ARTIFACTS.delete(artifact.r2Key);
  await env.DB.prepare("DELETE FROM artifacts WHERE id = ?").bind(artifact.id).run();
}
