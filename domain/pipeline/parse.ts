/**
 * `parsePipeline`: a `.act` file's text → the normalised `Pipeline`, or every problem found,
 * each with the 1-based line and column of the node at fault (DESIGN.md §2: a refused file
 * says where). Pure: no Cloudflare or Node dependency.
 *
 * Three stages, each collecting all of its problems before the next decides whether to run:
 * 1. YAML: syntax errors stop here (the tree is not trustworthy past them). Duplicate keys
 *    are reported but do not stop: the tree is intact, so stage 2 can still say more.
 * 2. Shape (schema.ts, zod): every issue, mapped from its path back to the YAML node.
 * 3. Relations (here): step ids, `needs`, cycles, template references. They need a document
 *    of the right shape, so they run only when stage 2 found nothing.
 */
import { LineCounter, parseDocument } from "yaml";
import { expandedSize } from "./expansion.ts";
import { PipelineFileSchema, pipelineErrorMap, unknownKeyMessage } from "./schema.ts";
import {
  PIPELINE_DEFAULTS,
  type ParseResult,
  type PipelineProblem,
} from "./types.ts";
import { keyAt, Locator, type Path, pathLabel } from "./locator.ts";
import { Normaliser } from "./normalise.ts";

export { pathLabel } from "./locator.ts";

export interface ParseOptions {
  /** The pipeline's name when the file has no top-level `name:` (e.g. the file's name). */
  name?: string;
  /**
   * Why the pipeline's project may not use a queue (a sentence), or null when it may: the
   * caller's view of the queue registry (domain/queues.ts `queueRefusal`). Unset = not checked.
   */
  queueRefusal?: (queue: string) => string | null;
  /**
   * Jobs outside the file that its jobs may `needs` (key → output names): the run's jobs,
   * for a file uploaded into a running run (domain/run-engine/append-jobs.ts).
   */
  existingJobs?: Record<string, string[]>;
}

/** Never throws: whatever the text, the answer is a pipeline or a list of problems. */
export function parsePipeline(text: string, options: ParseOptions = {}): ParseResult {
  try {
    return parse(text, options);
  } catch (error) {
    // A last resort for input the libraries cannot take, e.g. nesting deep enough to exhaust
    // the stack; a 400 with a reason beats a 500.
    const reason = error instanceof Error ? error.message : String(error);
    return fail([{ message: `the file could not be read: ${reason}`, line: 0, column: 0, path: [] }]);
  }
}

function parse(text: string, options: ParseOptions): ParseResult {
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > PIPELINE_DEFAULTS.maxFileBytes) {
    const limit = `${PIPELINE_DEFAULTS.maxFileBytes / 1024} KiB`;
    return fail([{ message: `the file is ${bytes} bytes; the limit is ${limit}`, line: 0, column: 0, path: [] }]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const locator = new Locator(doc, lines, text);
  const problems: PipelineProblem[] = [];
  const report = (path: Path, message: string, at: "key" | "value" = "value", template?: Parameters<Locator["at"]>[2]) =>
    problems.push({ message, path: locator.inFile(path), ...locator.at(path, at, template) });
  const label = (path: Path) => pathLabel(locator.inFile(path));

  // Stage 1: YAML.
  for (const error of doc.errors) {
    const duplicate = error.code === "DUPLICATE_KEY";
    const message = duplicate
      ? `duplicate key ${JSON.stringify(keyAt(text, error.pos[0]))}: a key may appear once in a mapping`
      : `YAML: ${error.message}`;
    problems.push({ message, path: [], ...locator.position(error.pos[0]) });
  }
  if (doc.errors.some((error) => error.code !== "DUPLICATE_KEY")) return fail(problems);
  if (doc.contents === null) {
    return fail([...problems, { message: "the file is empty; a pipeline needs at least `jobs:`", line: 0, column: 0, path: [] }]);
  }
  // Measured before anything expands it: aliases of aliases multiply (./expansion.ts).
  if (expandedSize(doc, PIPELINE_DEFAULTS.maxExpandedSize) > PIPELINE_DEFAULTS.maxExpandedSize) {
    report([], `the file expands (YAML aliases resolved) to more than ${PIPELINE_DEFAULTS.maxExpandedSize} nodes and characters; the limit is maxExpandedSize = ${PIPELINE_DEFAULTS.maxExpandedSize}: use fewer aliases`);
    return fail(problems);
  }
  let data: unknown;
  try {
    // The alias limit refuses "billion laughs" documents instead of expanding them.
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    report([], `YAML: ${error instanceof Error ? error.message : String(error)}`);
    return fail(problems);
  }

  // Stage 2: shape. The job count is checked first: no point validating 10 000 jobs one by one.
  const jobs = (data as { jobs?: unknown } | null)?.jobs;
  if (jobs && typeof jobs === "object" && Object.keys(jobs).length > PIPELINE_DEFAULTS.maxJobs) {
    report(["jobs"], `jobs: ${Object.keys(jobs).length} jobs; the limit is ${PIPELINE_DEFAULTS.maxJobs}`, "key");
    return fail(problems);
  }
  const before = problems.length;
  for (const [path, message] of unsafe(data, [], new Set())) report(path, message, "key");
  if (problems.length > before) return fail(problems);
  const parsed = PipelineFileSchema.safeParse(data, { error: pipelineErrorMap });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
      const parent = path.slice(0, -1);
      const last = String(path[path.length - 1]);
      if (issue.code === "custom" && issue.params?.unknownKey) {
        report(path, `${pathLabel(parent)}: ${unknownKeyMessage(last, issue.params.known as string[])}`, "key");
      } else if (issue.code === "invalid_key") {
        report(path, `${pathLabel(parent)}: "${last}": ${issue.issues.map((i) => i.message).join("; ")}`, "key");
      } else if (locator.isMissingKey(path)) {
        report(path, `${pathLabel(parent)}: "${last}" is required`);
      } else {
        report(path, `${label(path)}: ${issue.message}`);
      }
    }
    return fail(problems);
  }

  // Stage 3: relations, building the normalised pipeline as we go.
  const pipeline = new Normaliser(parsed.data, report, label, () => problems.length > 0, options.existingJobs).pipeline(options);
  if (problems.length > 0) return fail(problems);
  const stored = new TextEncoder().encode(JSON.stringify(pipeline)).byteLength;
  if (stored > PIPELINE_DEFAULTS.maxDefinitionBytes) {
    report([], `the pipeline, normalised, is ${stored} bytes; the limit is maxDefinitionBytes = ${PIPELINE_DEFAULTS.maxDefinitionBytes}: split it into several pipelines`);
    return fail(problems);
  }
  return { ok: true, pipeline };
}

/**
 * What zod must not be given: a `__proto__` key (zod drops it silently) and an alias inside
 * the node it names (`a: &x [*x]`), which makes a circular value zod would never finish.
 */
function* unsafe(value: unknown, path: Path, ancestors: Set<object>): Generator<[Path, string]> {
  if (typeof value !== "object" || value === null) return;
  if (ancestors.has(value)) {
    yield [path, `${pathLabel(path)}: an alias may not point at a node that contains it`];
    return;
  }
  if (Object.hasOwn(value, "__proto__")) yield [[...path, "__proto__"], `${pathLabel(path)}: "__proto__" may not be used as a key`];
  ancestors.add(value);
  for (const [key, child] of Object.entries(value)) {
    yield* unsafe(child, [...path, Array.isArray(value) ? Number(key) : key], ancestors);
  }
  ancestors.delete(value);
}

/** More than this many problems are summed up in one last problem: nobody reads 5 000. */
export const MAX_PROBLEMS = 100;

/** Problems in file order, those without a place first; the sort is stable. */
function fail(problems: PipelineProblem[]): ParseResult {
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  if (problems.length <= MAX_PROBLEMS) return { ok: false, problems };
  const more = { message: `…and ${problems.length - MAX_PROBLEMS} more problems`, line: 0, column: 0, path: [] };
  return { ok: false, problems: [...problems.slice(0, MAX_PROBLEMS), more] };
}
