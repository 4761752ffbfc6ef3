/**
 * The agent's half of templating: `${{ steps.<id>.outputs.<key> }}` (the control plane resolves
 * every other expression before it hands the job out), rendered with the shared
 * domain/templates.ts. A step of this job that set no such output — or has not run — resolves
 * to "" (as in GitHub Actions); any other expression, or a step id this job does not have, is
 * left exactly as written.
 */
import { renderTemplate } from "../domain/templates.ts";

export type StepOutputs = ReadonlyMap<string, Readonly<Record<string, string>>>;

export function resolveStepTemplates(text: string, outputs: StepOutputs, knownSteps: ReadonlySet<string>): string {
  return renderTemplate(text, (path) => {
    const [root, step, kind, key] = path;
    if (root !== "steps" || kind !== "outputs" || key === undefined || path.length !== 4 || !knownSteps.has(step!)) return undefined;
    return outputs.get(step!)?.[key] ?? "";
  });
}

export function resolveRecord(
  record: Readonly<Record<string, string>>,
  outputs: StepOutputs,
  knownSteps: ReadonlySet<string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record)) out[k] = resolveStepTemplates(v, outputs, knownSteps);
  return out;
}
