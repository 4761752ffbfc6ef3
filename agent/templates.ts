/**
 * The agent's resolver for `${{ steps.<id>.outputs.<key> }}` (the control plane resolves every
 * other expression before it hands the job out). A step of this job that set no such output
 * — or has not run — resolves to "" (as in GitHub Actions); any other expression, or a step id
 * this job does not have, is left exactly as written.
 *
 * Temporary: domain/templates.ts will replace this.
 */

const EXPRESSION = /\$\{\{\s*([^}]*?)\s*\}\}/g;
const STEP_OUTPUT = /^steps\.([A-Za-z0-9_-]+)\.outputs\.([^\s.][^\s]*)$/;

export type StepOutputs = ReadonlyMap<string, Readonly<Record<string, string>>>;

export function resolveStepTemplates(text: string, outputs: StepOutputs, knownSteps: ReadonlySet<string>): string {
  return text.replace(EXPRESSION, (whole, expr: string) => {
    const m = STEP_OUTPUT.exec(expr);
    if (!m) return whole;
    const [, step, key] = m;
    if (!knownSteps.has(step!)) return whole;
    const value = outputs.get(step!)?.[key!];
    return value ?? "";
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
