/**
 * What `RunObject.uploadPipeline` checks before the engine adds the jobs: the file parsed with
 * the run's jobs available to `needs` (domain/run-engine/append-jobs.ts), the queues its jobs
 * name against the registry in D1 — an uploaded job may not reach a queue its project may not
 * use, any more than a stored one (docs/security.md) — and the project secrets the new jobs
 * reference, added to the run's snapshot.
 */
import type { Pipeline } from "../../domain/pipeline/types.ts";
import { DEFAULT_QUEUE, queueRefusal, queuesOf } from "../../domain/queues.ts";
import { parseUpload, type RunState } from "../../domain/run-engine/index.ts";
import { referencedSecrets } from "../../domain/secrets.ts";
import type { Env } from "../../platform/env.ts";
import { queueRules } from "../../platform/queue-rules.ts";
import { fail, ok, type Result } from "../../platform/result.ts";
import type { RunSecrets } from "./run-secrets.ts";

export async function prepareUpload(env: Env, state: RunState, secrets: RunSecrets, text: string): Promise<Result<Pipeline>> {
  let parsed = parseUpload(state, text);
  if (parsed.ok) {
    const named = queuesOf(parsed.pipeline.jobs);
    if (named.some((q) => q !== DEFAULT_QUEUE)) {
      const rules = await queueRules(env, named);
      const project = state.run.project;
      if (named.some((q) => queueRefusal(rules, q, project) !== null)) {
        // Parsed again only when a queue is refused, so the problem carries its line and column.
        parsed = parseUpload(state, text, (queue) => queueRefusal(rules, queue, project));
      }
    }
  }
  if (!parsed.ok) {
    const first = parsed.problems[0]!;
    const more = parsed.problems.length > 1 ? ` (and ${parsed.problems.length - 1} more)` : "";
    return fail(400, "invalid_pipeline", `line ${first.line}, column ${first.column}: ${first.message}${more}`, { problems: parsed.problems });
  }
  // The secrets the new jobs reference beyond the snapshot, as they are now (none for a run
  // without secrets: a fork's pull request). Added before the jobs: a job is queued only by the commit.
  const wanted = state.run.secretsWithheld ? [] : secrets.missing(referencedSecrets(parsed.pipeline));
  if (wanted.length > 0) await secrets.addFromProject(env, state.run.projectId, wanted);
  return ok(parsed.pipeline);
}
