/**
 * `${{ expr }}` templates in pipeline files (see docs/pipelines.md, "Templates").
 *
 * An expression is a dotted path and nothing else — no operators, literals or functions:
 *   steps.<step>.outputs.<key>   a step's output (resolved by the agent)
 *   needs.<job>.outputs.<key>    an output of a job this job needs (control plane)
 *   secrets.<NAME>               a project secret (control plane)
 *   params.<name>                a run parameter (control plane)
 *   run.<field>                  a fact about the run (control plane)
 *   matrix.<key>                 the job's matrix combination (rendered when the parser expands it)
 *
 * Rendering happens twice: the control plane resolves what it knows and leaves every other
 * template exactly as written; the agent renders the remaining `steps.*` ones later. That is
 * why `renderTemplate` never fails and never rewrites a template its lookup does not know,
 * and why there is no escape syntax: an escape would be consumed by the first pass and the
 * second pass would then see a live template.
 */

export const TEMPLATE_ROOTS = ["steps", "needs", "secrets", "params", "run", "matrix"] as const;
export type TemplateRoot = (typeof TEMPLATE_ROOTS)[number];

/** The fields of `run.<field>`. */
export const RUN_FIELDS = ["id", "number", "branch", "commit", "trigger", "attempt", "pipeline", "project"] as const;
export type RunField = (typeof RUN_FIELDS)[number];

/** Every name inside a path: step ids, job keys, output keys, secret and param names. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export interface TemplateRef {
  root: TemplateRoot;
  /** The whole path, root first: `["needs", "test", "outputs", "version"]`. */
  path: string[];
}

export interface Template extends TemplateRef {
  /** Offset of `${{` in the text. */
  start: number;
  /** Offset just after the closing `}}`. */
  end: number;
  /** The template as written, `${{ ... }}` included. */
  source: string;
  /** The path as written, trimmed: `needs.test.outputs.version`. */
  expression: string;
}

export interface TemplateError {
  /** Offset of the offending `${{` in the text. */
  start: number;
  end: number;
  message: string;
}

export interface TemplateScan {
  templates: Template[];
  errors: TemplateError[];
}

const OPEN = "${{";
const CLOSE = "}}";

/** The shape each root demands, as the message shows it. */
const SHAPES: Record<TemplateRoot, string> = {
  steps: "steps.<step>.outputs.<key>",
  needs: "needs.<job>.outputs.<key>",
  secrets: "secrets.<NAME>",
  params: "params.<name>",
  run: `run.<field> (${RUN_FIELDS.join(", ")})`,
  matrix: "matrix.<key>",
};

/** Null when the path is well formed, else why not. */
function checkPath(expression: string, path: string[]): string | null {
  const root = path[0]!;
  if (!(TEMPLATE_ROOTS as readonly string[]).includes(root)) {
    return `unknown "${root}" in \${{ ${expression} }}; a template starts with ${TEMPLATE_ROOTS.join(", ")}`;
  }
  const bad = `\${{ ${expression} }} must have the form \${{ ${SHAPES[root as TemplateRoot]} }}`;
  if (!path.every((part) => IDENTIFIER.test(part))) return bad;
  switch (root as TemplateRoot) {
    case "steps":
    case "needs":
      return path.length === 4 && path[2] === "outputs" ? null : bad;
    case "secrets":
    case "params":
    case "matrix":
      return path.length === 2 ? null : bad;
    case "run":
      if (path.length !== 2) return bad;
      return (RUN_FIELDS as readonly string[]).includes(path[1]!)
        ? null
        : `unknown run field "${path[1]}"; use one of ${RUN_FIELDS.join(", ")}`;
  }
}

/** Every template in `text`, in order, and every malformed one. Never throws. */
export function parseTemplates(text: string): TemplateScan {
  const templates: Template[] = [];
  const errors: TemplateError[] = [];
  let from = 0;
  for (;;) {
    const start = text.indexOf(OPEN, from);
    if (start === -1) break;
    const close = text.indexOf(CLOSE, start + OPEN.length);
    if (close === -1) {
      errors.push({ start, end: text.length, message: "unclosed ${{ (a template ends with }})" });
      break;
    }
    const end = close + CLOSE.length;
    const source = text.slice(start, end);
    const expression = text.slice(start + OPEN.length, close).trim();
    from = end;
    if (expression === "") {
      errors.push({ start, end, message: "empty template ${{ }}" });
      continue;
    }
    const path = expression.split(".");
    const problem = checkPath(expression, path);
    if (problem) errors.push({ start, end, message: problem });
    else templates.push({ root: path[0] as TemplateRoot, path, start, end, source, expression });
  }
  return { templates, errors };
}

/**
 * Replaces every well-formed template whose path `lookup` knows by its value. A template the
 * lookup does not know (returns undefined) and a malformed one are left exactly as written.
 * Substituted values are not scanned again within this call.
 */
export function renderTemplate(text: string, lookup: (path: string[]) => string | undefined): string {
  const { templates } = parseTemplates(text);
  if (templates.length === 0) return text;
  let out = "";
  let from = 0;
  for (const template of templates) {
    const value = lookup(template.path);
    if (value === undefined) continue;
    out += text.slice(from, template.start) + value;
    from = template.end;
  }
  return out + text.slice(from);
}

/**
 * The well-formed references `text` makes, in order of first appearance, each once; only
 * those under `root` when given. E.g. the secrets a job uses:
 * `templateReferences(step.run, "secrets").map((ref) => ref.path[1])`.
 */
export function templateReferences(text: string, root?: TemplateRoot): TemplateRef[] {
  const seen = new Set<string>();
  const refs: TemplateRef[] = [];
  for (const template of parseTemplates(text).templates) {
    if (root !== undefined && template.root !== root) continue;
    const key = template.path.join(".");
    if (seen.has(key)) continue;
    seen.add(key);
    refs.push({ root: template.root, path: template.path });
  }
  return refs;
}
