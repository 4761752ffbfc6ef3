/**
 * Project secrets as pipelines see them (docs/security.md): their names, their size limit, and
 * which of them a pipeline references (`${{ secrets.NAME }}`), so a run carries only those.
 */
import type { Pipeline } from "./pipeline/types.ts";
import { IDENTIFIER, templateReferences } from "./templates.ts";

/** A secret's name is what a template can name: a letter or `_`, then letters, digits, `_`, `-`. */
export const SECRET_NAME = IDENTIFIER;
export const MAX_SECRET_NAME_LENGTH = 100;
/** The largest secret value, in UTF-8 bytes (a PEM key or a kubeconfig fits). */
export const MAX_SECRET_BYTES = 64 * 1024;
/** The most secrets a project may hold. */
export const MAX_SECRETS_PER_PROJECT = 200;

/** Every text of a pipeline in which templates are rendered (docs/pipelines.md, "Templates"). */
function* renderedTexts(pipeline: Pipeline): Generator<string> {
  yield* Object.values(pipeline.env);
  for (const job of pipeline.jobs) {
    yield* Object.values(job.env);
    yield* Object.values(job.outputs);
    for (const step of job.steps) {
      yield step.run;
      yield* Object.values(step.env);
      if (step.workingDirectory !== null) yield step.workingDirectory;
    }
  }
}

/** The names of the secrets a pipeline references, each once, sorted. */
export function referencedSecrets(pipeline: Pipeline): string[] {
  const names = new Set<string>();
  for (const text of renderedTexts(pipeline)) {
    for (const ref of templateReferences(text, "secrets")) names.add(ref.path[1]!);
  }
  return [...names].sort();
}
