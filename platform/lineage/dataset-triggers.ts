/**
 * `on: dataset` triggers (docs/lineage.md, "Triggers"): from a COMPLETE event's outputs to the
 * runs it starts. Used by the worker for events posted to POST /api/v1/lineage and by the
 * RunObject for its own jobs' COMPLETE events (no HTTP round trip), hence in platform/.
 *
 * Per (event, pipeline) one lineage_triggers row is inserted before anything is started — the
 * event's runId is the key, so an event sent twice starts one run; the run's id is chosen in
 * that row, and RunObject.create is idempotent per id, so a start retried after a crash or an
 * outage starts the same run. A refused start (a loop, a chain too deep, a pipeline whose
 * params cannot be filled) is kept in the row with the reason, listed by the API.
 */
import { and, eq, inArray } from "drizzle-orm";
import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";
import { uuidv7 } from "uuidv7";
import type { Pipeline } from "../../domain/pipeline/types.ts";
import {
  chainKey,
  chainRefusal,
  type DatasetRef,
  type DatasetTrigger,
  matchingOutputs,
  type UpstreamRun,
} from "../../domain/triggers/dataset.ts";
import { datasetTriggers, lineageTriggers, pipelines, pipelineVersions, projects } from "../db/schema.ts";
import type { Env } from "../env.ts";
import { startRun } from "../start-run.ts";
import { runStub } from "../stubs.ts";

/** A COMPLETE event, as far as triggers read it. */
export interface CompletedRun {
  namespace: string;
  /** The OpenLineage job name. */
  name: string;
  runId: string;
  outputs: DatasetRef[];
  /** The root of the upstream run's own parent chain (its parent facet's root), if it has one. */
  root?: { namespace: string; name: string; runId: string };
  /** Yardmaster pipelines upstream of (and including) the event's run, oldest first. */
  chain: string[];
  /** The Yardmaster run whose job sent the event; null for events from outside. */
  ymRunId: string | null;
  /** Which projects the sender may start runs in (a token limited to some); absent: all. */
  allowed?: (project: string) => boolean;
}

export type TriggerOutcome = "started" | "pending" | "loop" | "too_deep" | "failed";

export interface TriggerResult {
  project: string;
  pipeline: string;
  outcome: TriggerOutcome;
  runId: string | null;
  message: string | null;
  datasets: DatasetRef[];
}

// D1 binds at most 100 parameters per statement.
const NAMESPACES_PER_QUERY = 90;

interface Candidate {
  pipelineId: string;
  projectId: string;
  project: string;
  pipeline: string;
  triggers: DatasetTrigger[];
}

async function candidates(env: Env, namespaces: string[]): Promise<Candidate[]> {
  const db = drizzle(env.DB);
  const byPipeline = new Map<string, Candidate>();
  for (let i = 0; i < namespaces.length; i += NAMESPACES_PER_QUERY) {
    const rows = await db
      .select({ trigger: datasetTriggers, pipeline: pipelines.name, project: projects.slug })
      .from(datasetTriggers)
      .innerJoin(pipelines, eq(pipelines.id, datasetTriggers.pipelineId))
      .innerJoin(projects, eq(projects.id, pipelines.projectId))
      .where(inArray(datasetTriggers.namespace, namespaces.slice(i, i + NAMESPACES_PER_QUERY)))
      .orderBy(datasetTriggers.pipelineId, datasetTriggers.position);
    for (const row of rows) {
      const { trigger } = row;
      const candidate = byPipeline.get(trigger.pipelineId) ?? {
        pipelineId: trigger.pipelineId,
        projectId: trigger.projectId,
        project: row.project,
        pipeline: row.pipeline,
        triggers: [],
      };
      candidate.triggers.push({ namespace: trigger.namespace, name: trigger.nameGlob });
      byPipeline.set(trigger.pipelineId, candidate);
    }
  }
  return [...byPipeline.values()];
}

/** Starts (or records the refusal of) every pipeline the event's outputs trigger. */
export async function fireDatasetTriggers(env: Env, event: CompletedRun, now: number = Date.now()): Promise<TriggerResult[]> {
  if (event.outputs.length === 0) return [];
  const namespaces = [...new Set(event.outputs.map((o) => o.namespace))];
  const results: TriggerResult[] = [];
  for (const candidate of await candidates(env, namespaces)) {
    if (event.allowed && !event.allowed(candidate.project)) continue;
    const matched = matchingOutputs(candidate.triggers, event.outputs);
    if (matched.length === 0) continue;
    results.push(await fireOne(env, event, candidate, matched, now));
  }
  return results;
}

type TriggerRow = typeof lineageTriggers.$inferSelect;

async function fireOne(env: Env, event: CompletedRun, candidate: Candidate, matched: DatasetRef[], now: number): Promise<TriggerResult> {
  const db = drizzle(env.DB);
  const refusal = chainRefusal(event.chain, chainKey(candidate.project, candidate.pipeline));
  const row: TriggerRow = {
    eventKey: event.runId,
    pipelineId: candidate.pipelineId,
    projectId: candidate.projectId,
    project: candidate.project,
    pipeline: candidate.pipeline,
    upstreamNamespace: event.namespace,
    upstreamJob: event.name,
    upstreamRunId: event.runId,
    upstreamYmRunId: event.ymRunId,
    datasets: JSON.stringify(matched),
    chain: JSON.stringify(event.chain),
    runId: refusal ? null : uuidv7(),
    outcome: refusal ? refusal.outcome : "pending",
    message: refusal ? refusal.message : null,
    createdAt: now,
  };
  await db.insert(lineageTriggers).values(row).onConflictDoNothing();
  const key = and(eq(lineageTriggers.eventKey, event.runId), eq(lineageTriggers.pipelineId, candidate.pipelineId));
  // The row as stored: ours, or the one an earlier delivery of the same event inserted.
  const stored = (await db.select().from(lineageTriggers).where(key).limit(1))[0]!;
  if (stored.outcome !== "pending" || !stored.runId) return resultOf(stored);
  const outcome = await start(env, event, candidate, matched, stored.runId);
  await db.update(lineageTriggers).set({ outcome: outcome.outcome, message: outcome.message }).where(key);
  return resultOf({ ...stored, ...outcome });
}

function resultOf(row: TriggerRow): TriggerResult {
  return {
    project: row.project,
    pipeline: row.pipeline,
    outcome: row.outcome as TriggerOutcome,
    runId: row.outcome === "started" ? row.runId : null,
    message: row.message,
    datasets: JSON.parse(row.datasets) as DatasetRef[],
  };
}

/** Starts the run with the row's id. Throws when D1 or the RunObject is unreachable (the caller retries). */
async function start(
  env: Env,
  event: CompletedRun,
  candidate: Candidate,
  matched: DatasetRef[],
  runId: string,
): Promise<{ outcome: "started" | "failed"; message: string | null }> {
  if ((await runStub(env, runId).get()).ok) return { outcome: "started", message: null }; // a retried start
  const db = drizzle(env.DB);
  const found = (
    await db
      .select({ project: projects, pipeline: pipelines, version: pipelineVersions })
      .from(pipelines)
      .innerJoin(pipelineVersions, eq(pipelineVersions.id, pipelines.currentVersionId))
      .innerJoin(projects, eq(projects.id, pipelines.projectId))
      .where(eq(pipelines.id, candidate.pipelineId))
      .limit(1)
  )[0];
  if (!found) return { outcome: "failed", message: "the pipeline no longer exists" };
  const definition = JSON.parse(found.version.definition) as Pipeline;
  const dataset = matched[0]!;
  const given: Record<string, string> = { dataset_namespace: dataset.namespace, dataset_name: dataset.name, upstream_run: event.runId };
  const params: Record<string, string> = {};
  const missing: string[] = [];
  for (const [name, param] of Object.entries(definition.params)) {
    const value = given[name] ?? param.default;
    if (value === undefined) missing.push(name);
    else params[name] = value;
  }
  if (missing.length > 0) return { outcome: "failed", message: `not started: param ${missing.map((n) => `'${n}'`).join(", ")} has no default` };
  const upstream: UpstreamRun = {
    namespace: event.namespace,
    name: event.name,
    runId: event.runId,
    root: event.root ?? { namespace: event.namespace, name: event.name, runId: event.runId },
    dataset,
    chain: event.chain,
  };
  const started = await startRun(env, { ...found, definition, params, trigger: "lineage", runId, upstream });
  return started.ok ? { outcome: "started", message: null } : { outcome: "failed", message: `not started: ${started.error.message}` };
}

/**
 * The chain behind an event from outside whose parent facet names a Yardmaster run — a tool
 * that a Yardmaster run started and that passes the parent on (as OpenLineage integrations do):
 * that run's own chain and its pipeline, so a loop through the other tool is stopped too. The
 * run is found by its run attempt's or job attempt's id (the runIds Yardmaster emits) in the D1
 * projection; [] when no Yardmaster run is named.
 */
export async function chainOfParents(env: Env, runIds: readonly string[]): Promise<string[]> {
  const ids = [...new Set(runIds)].slice(0, 10);
  if (ids.length === 0) return [];
  const marks = ids.map(() => "?").join(", ");
  const found = await env.DB.prepare(
    `SELECT r.id, r.project, r.pipeline FROM runs r
     WHERE r.id IN (SELECT run_id FROM run_attempts WHERE id IN (${marks}) UNION SELECT run_id FROM job_attempts WHERE id IN (${marks}))
     LIMIT 1`,
  )
    .bind(...ids, ...ids)
    .first<{ id: string; project: string; pipeline: string }>();
  if (!found) return [];
  const started = await env.DB.prepare("SELECT chain FROM lineage_triggers WHERE run_id = ? LIMIT 1").bind(found.id).first<{ chain: string }>();
  return [...(started ? (JSON.parse(started.chain) as string[]) : []), chainKey(found.project, found.pipeline)];
}

/** The statements that rewrite a pipeline's dataset triggers with its current version (a D1 batch). */
export function datasetTriggerStatements(db: DrizzleD1Database, pipelineId: string, projectId: string, triggers: readonly DatasetTrigger[]) {
  const rows = triggers.map((t, position) => ({ pipelineId, position, projectId, namespace: t.namespace, nameGlob: t.name }));
  return [db.delete(datasetTriggers).where(eq(datasetTriggers.pipelineId, pipelineId)), ...rows.map((row) => db.insert(datasetTriggers).values(row))] as const;
}
