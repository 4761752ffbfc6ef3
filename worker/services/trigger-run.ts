/**
 * Starting a run of a pipeline's current version: the one path used by the REST API, the
 * dashboard, webhooks and schedules. The run number comes from an atomic counter on the
 * project row; the run itself is created in its own RunObject, which projects it into D1
 * (platform/start-run.ts, shared with the RunObject's dataset triggers).
 */
import type { RunView } from "../../domain/views.ts";
import type { Pipeline } from "../../domain/pipeline/types.ts";
import type { Env } from "../../platform/env.ts";
import { runStub } from "../../platform/stubs.ts";
import { startRun, type StartRunInput } from "../../platform/start-run.ts";
import { ApiError, unwrap } from "../http/errors.ts";
import type { AuditContext } from "../../platform/audit.ts";
import { findProjectPipeline } from "./projects.ts";

export interface TriggerInput {
  project: string;
  pipeline: string;
  branch?: string | null;
  commit?: string | null;
  params?: Record<string, string>;
  trigger: StartRunInput["trigger"];
  nominalTime?: number | null;
  /**
   * The run's id, chosen by a caller that must be able to retry the start without starting a
   * second run (webhook deliveries, schedule slots): RunObject.create is idempotent per id.
   */
  runId?: string;
  /** False for untrusted code (pull requests from forks): the run gets no project secrets. */
  withSecrets?: boolean;
  /** Who triggered it, for the audit log; webhooks and schedules are recorded as themselves (platform/start-run.ts). */
  by?: AuditContext;
  /** The triggering request's origin: the base of the run page's URL in commit statuses, unless YM_PUBLIC_URL is set. */
  origin?: string | null;
}

/** The run's params: the given ones, checked against the pipeline's declared params, defaults filled in. */
export function resolveParams(definition: Pipeline, given: Record<string, string>): Record<string, string> {
  const declared = definition.params;
  const unknown = Object.keys(given).filter((name) => !(name in declared));
  if (unknown.length > 0) {
    const known = Object.keys(declared);
    throw new ApiError(
      400,
      "unknown_params",
      `pipeline '${definition.name}' declares no param ${unknown.map((n) => `'${n}'`).join(", ")}` +
        (known.length ? `; it takes ${known.join(", ")}` : "; it takes none"),
    );
  }
  const params: Record<string, string> = {};
  const missing: string[] = [];
  for (const [name, param] of Object.entries(declared)) {
    const value = given[name] ?? param.default;
    if (value === undefined) missing.push(name);
    else params[name] = value;
  }
  if (missing.length > 0) {
    throw new ApiError(400, "missing_params", `pipeline '${definition.name}' needs a value for ${missing.map((n) => `'${n}'`).join(", ")}`);
  }
  return params;
}

export async function triggerRun(env: Env, input: TriggerInput): Promise<RunView> {
  if (input.runId) {
    // A retried start: the run may exist already; answer it rather than number a second one.
    const existing = await runStub(env, input.runId).get();
    if (existing.ok) return existing.value;
  }
  const { project, pipeline, version } = await findProjectPipeline(env, input.project, input.pipeline);
  const definition = JSON.parse(version.definition) as Pipeline;
  const params = resolveParams(definition, input.params ?? {});
  // The run's object records who triggered it with the run (docs/security.md "The audit log").
  return unwrap(await startRun(env, { ...input, project, pipeline, version, definition, params }));
}
