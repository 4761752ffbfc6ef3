/**
 * Upload-time checks of `if:` conditions (domain/expressions.ts is the language): the text
 * parses, and every context it reads exists where the condition is evaluated.
 */
import { conditionPaths, parseCondition } from "../expressions.ts";
import { RUN_FIELDS } from "../templates.ts";

/** What a condition may read where it is written. */
export interface ConditionScope {
  params: ReadonlySet<string>;
  /** The job's needs, and the outputs each of them declares. */
  needs: ReadonlyMap<string, readonly string[]>;
  /** All job keys, to tell an unknown job from one that is not needed. */
  jobKeys: readonly string[];
  /** The job's matrix keys; empty when it has no matrix. */
  matrix: ReadonlySet<string>;
  /** Jobs with a matrix: their outputs are per instance, not readable by their key. */
  matrixJobs?: ReadonlySet<string>;
  /** For a step: the steps that end before it (their outputs and results are readable). */
  steps?: { upstream: ReadonlySet<string>; all: ReadonlySet<string>; self: string };
}

export interface ConditionProblem {
  message: string;
  /** Offset in the condition's text. */
  offset: number;
}

const SHAPES =
  "run.<field>, params.<name>, needs.<job>.result, needs.<job>.outputs.<key>, matrix.<key>, steps.<step>.result, steps.<step>.outputs.<key>";

function whyNot(path: string[], scope: ConditionScope): string | null {
  const [root, name, kind, key] = path;
  const shape = (expected: string) => `"${path.join(".")}" must have the form ${expected}`;
  switch (root) {
    case "run":
      if (path.length !== 2) return shape("run.<field>");
      return (RUN_FIELDS as readonly string[]).includes(name!) ? null : `unknown run field "${name}"; use one of ${RUN_FIELDS.join(", ")}`;
    case "params":
      if (path.length !== 2) return shape("params.<name>");
      return scope.params.has(name!) ? null : `unknown param "${name}"; declare it under params:`;
    case "matrix":
      if (path.length !== 2) return shape("matrix.<key>");
      if (scope.matrix.size === 0) return "this job has no matrix";
      return scope.matrix.has(name!) ? null : `the matrix has no key "${name}"; it has ${[...scope.matrix].join(", ")}`;
    case "needs": {
      const valid = (path.length === 3 && kind === "result") || (path.length === 4 && kind === "outputs");
      if (!valid) return shape("needs.<job>.result or needs.<job>.outputs.<key>");
      if (!scope.jobKeys.includes(name!)) return `unknown job "${name}"`;
      const outputs = scope.needs.get(name!);
      if (!outputs) return `job "${name}" is not in this job's needs; add it there`;
      if (kind === "outputs" && scope.matrixJobs?.has(name!)) return `job "${name}" has a matrix: its outputs are per instance, and needs.* cannot name one`;
      if (kind === "outputs" && !outputs.includes(key!)) return `job "${name}" declares no output "${key}"`;
      return null;
    }
    case "steps": {
      if (!scope.steps) return "steps.* is only available in a step's condition";
      const valid = (path.length === 3 && kind === "result") || (path.length === 4 && kind === "outputs");
      if (!valid) return shape("steps.<step>.result or steps.<step>.outputs.<key>");
      if (name === scope.steps.self) return "a step's condition cannot read the step itself";
      if (!scope.steps.all.has(name!)) return `unknown step "${name}"`;
      if (!scope.steps.upstream.has(name!)) return `step "${name}" does not run before this one; add it to this step's needs`;
      return null;
    }
    case "secrets":
      return "secrets may not be used in conditions";
    default:
      return `unknown context "${root}"; a condition reads ${SHAPES}`;
  }
}

/** Every problem of one condition; empty when it is fine. */
export function checkCondition(text: string, scope: ConditionScope): ConditionProblem[] {
  const parsed = parseCondition(text);
  if (!parsed.ok) return [parsed.error];
  const problems: ConditionProblem[] = [];
  for (const { path, at } of conditionPaths(parsed.condition.expr)) {
    const why = whyNot(path, scope);
    if (why) problems.push({ message: why, offset: at });
  }
  return problems;
}
