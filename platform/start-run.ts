/**
 * Creating a run of a pipeline version that the caller has already looked up: its queues'
 * rules (403 when one no longer allows the project), the secrets snapshot, the run number (an atomic counter on the project row) and the RunObject,
 * which records who triggered it in the audit log. Shared by
 * the worker (worker/services/trigger-run.ts, every API, webhook and schedule start) and the
 * RunObject (dataset triggers from its own jobs, platform/lineage/dataset-triggers.ts), which
 * cannot reach the worker. Answers a Result: the caller turns a refusal into its own error.
 */
import { eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { uuidv7 } from "uuidv7";
import type { RunView } from "../domain/views.ts";
import type { Pipeline } from "../domain/pipeline/types.ts";
import type { UpstreamRun } from "../domain/triggers/dataset.ts";
import { type AuditContext, machineActor } from "./audit.ts";
import { type pipelines, type pipelineVersions, projects } from "./db/schema.ts";
import type { Env } from "./env.ts";
import { queuesRefusal } from "./queue-rules.ts";
import type { Result } from "./result.ts";
import { snapshotSecrets, statusTarget } from "./secrets-snapshot.ts";
import { runStub } from "./stubs.ts";

export interface StartRunInput {
  project: typeof projects.$inferSelect;
  pipeline: typeof pipelines.$inferSelect;
  version: typeof pipelineVersions.$inferSelect;
  definition: Pipeline;
  /** Resolved: checked against the pipeline's declared params, defaults filled in. */
  params: Record<string, string>;
  trigger: "manual" | "api" | "webhook" | "schedule" | "lineage";
  branch?: string | null;
  commit?: string | null;
  nominalTime?: number | null;
  /** Chosen by a caller that retries: RunObject.create is idempotent per id. */
  runId?: string;
  withSecrets?: boolean;
  upstream?: UpstreamRun;
  /** The triggering request's origin, for the run page's URL in commit statuses (YM_PUBLIC_URL wins). */
  origin?: string | null;
  /**
   * Who triggered it, recorded by the run's object with the run (platform/audit.ts); without it
   * the webhook, schedule or dataset trigger of the pipeline.
   */
  by?: AuditContext;
}

export async function startRun(env: Env, input: StartRunInput): Promise<Result<RunView>> {
  const { project, pipeline, version, definition } = input;
  const queues = await queuesRefusal(env, definition, project.slug);
  if (queues) return queues;
  const secrets = input.withSecrets === false ? {} : await snapshotSecrets(env, project.id, definition);
  const counter = await drizzle(env.DB)
    .update(projects)
    .set({ runCounter: sql`${projects.runCounter} + 1` })
    .where(eq(projects.id, project.id))
    .returning({ number: projects.runCounter });
  const number = counter[0]!.number;
  const id = input.runId ?? uuidv7();
  const statuses = await statusTarget(env, project, input.origin ?? null);
  return runStub(env, id).create(
    {
    id,
    number,
    projectId: project.id,
    project: project.slug,
    repository: project.repository,
    pipelineId: pipeline.id,
    pipeline: pipeline.name,
    pipelineVersionId: version.id,
    definition,
    branch: input.branch ?? null,
    commit: input.commit ?? null,
    trigger: input.trigger,
    params: input.params,
    nominalTime: input.nominalTime ?? null,
    ...(input.upstream ? { upstream: input.upstream } : {}),
    secrets,
    ...(input.withSecrets === false ? { secretsWithheld: true } : {}),
    },
    input.by ?? machineActor(input.trigger, project.slug, pipeline.name),
    statuses ? { statuses } : {},
  );
}
