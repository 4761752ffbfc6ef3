/**
 * Which listed runs wait for a person's approval (the runs list's "Waiting for approval" badge),
 * read from D1 without asking each run's Durable Object.
 *
 * D1 does not hold a job's `waitingOn`, so it is inferred the way the engine decides it
 * (domain/run-engine/jobs-graph.ts, `enqueueReadyJobs`): a `type: approval` job of the run's
 * current attempt that is still CREATED although every job it needs has ended. Had its needs
 * failed, or its `if:` been false, the engine would have ended it KILLED at that moment. The
 * answer lags the run by one D1 flush, like the rest of the list.
 */
import { eq, inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Pipeline } from "../../domain/pipeline/types.ts";
import { isTerminal, type State } from "../../domain/states.ts";
import { jobs, pipelineVersions, runAttempts } from "../../platform/db/schema.ts";

interface ListedRun {
  id: string;
  status: string;
  attempt: number;
  pipelineVersionId: string;
}

/** Run id → the keys of its approval jobs waiting for a person (runs with none are absent). */
export async function awaitingApproval(db: D1Database, listed: ListedRun[]): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  // A run not yet ended, and not being cancelled, is the only kind that can wait.
  const live = listed.filter((r) => r.status === "CREATED" || r.status === "RUNNING");
  if (live.length === 0) return found;
  // A page holds at most 100 runs (GET /runs' `limit`): within D1's 100 bound parameters.
  const d1 = drizzle(db);
  const rows = await d1
    .select({ runId: jobs.runId, attempt: runAttempts.number, key: jobs.key, status: jobs.status, needs: jobs.needs })
    .from(jobs)
    .innerJoin(runAttempts, eq(runAttempts.id, jobs.runAttemptId))
    .where(inArray(jobs.runId, live.map((r) => r.id)));
  const current = new Map(live.map((r) => [r.id, r]));
  const byRun = new Map<string, typeof rows>();
  for (const row of rows) {
    if (current.get(row.runId)?.attempt !== row.attempt) continue;
    byRun.set(row.runId, [...(byRun.get(row.runId) ?? []), row]);
  }
  // The jobs whose needs have all ended, still CREATED: approval jobs among them wait.
  const candidates = new Map<string, string[]>();
  for (const [runId, attemptJobs] of byRun) {
    const status = new Map(attemptJobs.map((j) => [j.key, j.status as State]));
    const ready = attemptJobs.filter((j) => j.status === "CREATED" && j.needs.every((n) => isTerminal(status.get(n) ?? "CREATED")));
    if (ready.length > 0) candidates.set(runId, ready.map((j) => j.key));
  }
  if (candidates.size === 0) return found;
  const versionIds = [...new Set([...candidates.keys()].map((id) => current.get(id)!.pipelineVersionId))];
  const versions = await d1
    .select({ id: pipelineVersions.id, definition: pipelineVersions.definition })
    .from(pipelineVersions)
    .where(inArray(pipelineVersions.id, versionIds));
  const approvalJobs = new Map(
    versions.map((v) => [v.id, new Set((JSON.parse(v.definition) as Pipeline).jobs.filter((j) => j.approval !== undefined).map((j) => j.key))]),
  );
  for (const [runId, keys] of candidates) {
    const approvals = approvalJobs.get(current.get(runId)!.pipelineVersionId);
    const waiting = keys.filter((k) => approvals?.has(k));
    if (waiting.length > 0) found.set(runId, waiting);
  }
  return found;
}
