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
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import { withoutHashFiles } from "../caches.ts";
import { parseTemplates, type Template } from "../templates.ts";
import { expandedSize } from "./expansion.ts";
import { DEFAULT_QUEUE } from "../queues.ts";
import { type MetricGate, normaliseGates } from "./gates.ts";
import { reportRefusedQueues } from "./queue-check.ts";
import { checkCondition, type ConditionScope } from "./conditions.ts";
import { findCycle, upstreamOf, type GraphNode } from "./graph.ts";
import { expandPipelineMatrices, matrixKeys, matrixSpec } from "./matrix.ts";
import { approvalProblems, approvalSpec } from "./approval.ts";
import { retryPolicyOf } from "./retry-policy.ts";
import { closestMatch, PipelineFileSchema, pipelineErrorMap, unknownKeyMessage, type PipelineFile } from "./schema.ts";
import { withLineageParams } from "../triggers/dataset.ts";
import {
  PIPELINE_DEFAULTS,
  type ParseResult,
  type Pipeline,
  type PipelineJob,
  type PipelineProblem,
  type PipelineStep,
} from "./types.ts";

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

type Path = (string | number)[];

/** The mapping key written at `pos` (yaml's DUPLICATE_KEY error covers only its first character). */
function keyAt(text: string, pos: number): string {
  const rest = text.slice(pos);
  const quoted = rest.match(/^(["'])(.*?)\1/);
  if (quoted) return quoted[2]!;
  return (rest.match(/^[^\n]*?(?=\s*:(?:\s|$))/)?.[0] ?? rest.slice(0, 1)).trim();
}

/** `["jobs", "test", "steps", 1, "needs"]` → `jobs.test.steps[1].needs`, for messages. */
export function pathLabel(path: Path): string {
  if (path.length === 0) return "the file";
  return path
    .map((part, i) =>
      typeof part === "number" ? `[${part}]` : /^[A-Za-z_][\w-]*$/.test(part) ? (i ? "." : "") + part : `[${JSON.stringify(part)}]`,
    )
    .join("");
}

/** Maps a path into the document (and optionally a spot inside a string) to a line and column. */
class Locator {
  private readonly doc: Document;
  private readonly lines: LineCounter;
  private readonly text: string;

  constructor(doc: Document, lines: LineCounter, text: string) {
    this.doc = doc;
    this.lines = lines;
    this.text = text;
  }

  /** The deepest node along `path`, the key of the pair that holds it, and how far it got. */
  private walk(path: Path): { node: Node | null; key: Node | null; depth: number } {
    let node = this.doc.contents as Node | null;
    let key: Node | null = null;
    for (let depth = 0; depth < path.length; depth++) {
      if (isAlias(node)) node = (node.resolve(this.doc) as Node | undefined) ?? null;
      const part = path[depth]!;
      let next: Node | null | undefined;
      if (isMap(node)) {
        const pair = node.items.findLast((p) => isScalar(p.key) && String(p.key.value) === String(part));
        if (pair) key = pair.key as Node;
        next = pair ? ((pair.value as Node | null) ?? null) : undefined;
        if (pair && next === null) return { node: null, key, depth: depth + 1 };
      } else if (isSeq(node) && typeof part === "number") {
        next = node.items[part] as Node | undefined;
        key = null;
      }
      if (next === undefined) return { node, key, depth };
      node = next;
    }
    return { node, key, depth: path.length };
  }

  /**
   * The part of `path` that is in the file: the schema reads some scalars as if they were
   * written longhand (`needs: a` as `needs: [a]`, a cron string as `{cron: ...}`), and its
   * paths then go on past the scalar the user wrote.
   */
  inFile(path: Path): Path {
    const { node, depth } = this.walk(path);
    return depth < path.length && isScalar(node) ? path.slice(0, depth) : path;
  }

  /** Whether `path` names a key that is absent from a mapping that exists. */
  isMissingKey(path: Path): boolean {
    const found = this.walk(path);
    return found.depth === path.length - 1 && isMap(found.node) && typeof path[path.length - 1] === "string";
  }

  /**
   * Where `path` is: its key when `at` is "key"; else its value — at `template` inside it when
   * given and found verbatim in the source. A path that runs out points at the deepest node.
   */
  at(path: Path, at: "key" | "value" = "value", template?: { value: string; start: number; source: string }) {
    const { node, key, depth } = this.walk(path);
    let offset: number | undefined;
    const full = depth === path.length;
    if (at === "key" && key && full) offset = key.range?.[0];
    // A missing key: where the mapping that lacks it is named.
    else if (!full && key && !isScalar(node)) offset = key.range?.[0];
    // A block mapping or list starts on the line after its key; the key is where people look.
    else if (key && (isMap(node) || isSeq(node)) && !node.flow) offset = key.range?.[0];
    else offset = node?.range?.[0] ?? key?.range?.[0];
    if (template && node?.range && depth === path.length) {
      offset = this.findInSource(node.range, template) ?? offset;
    }
    return this.position(offset);
  }

  /**
   * A template's place in the file. Quoting, escapes and folding make value offsets differ
   * from source offsets, but a template's own text almost never contains any of them, so
   * the n-th occurrence of its text in the value is the n-th one in the node's source.
   */
  private findInSource(range: readonly number[], template: { value: string; start: number; source: string }) {
    let occurrence = 0;
    for (let i = template.value.indexOf(template.source); i !== -1 && i < template.start; ) {
      occurrence++;
      i = template.value.indexOf(template.source, i + 1);
    }
    const source = this.text.slice(range[0], range[2] ?? range[1]);
    let found = source.indexOf(template.source);
    while (found !== -1 && occurrence-- > 0) found = source.indexOf(template.source, found + 1);
    return found === -1 ? undefined : range[0]! + found;
  }

  position(offset: number | undefined): { line: number; column: number } {
    if (offset === undefined) return { line: 0, column: 0 };
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }
}

/** Where each template may point, for one templated field. */
interface Scope {
  /** Steps whose outputs are available; null: `steps.*` is refused here with `stepsWhy`. */
  steps: Set<string> | null;
  stepsWhy?: string;
  /** All step ids of the job, to tell "unknown step" from "not needed". */
  jobSteps?: Set<string>;
  self?: string;
  /** Jobs whose outputs are available; null: `needs.*` is refused here. */
  needs: Set<string> | null;
  secrets: boolean;
  /** The job's matrix keys (none: `matrix.*` is refused). */
  matrix?: ReadonlySet<string>;
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

type Report = (path: Path, message: string, at?: "key" | "value", template?: Parameters<Locator["at"]>[2]) => void;

function unknown(what: string, name: string, candidates: string[]): string {
  const guess = closestMatch(name, candidates);
  return `unknown ${what} "${name}"${guess ? ` — did you mean "${guess}"?` : ""}`;
}

/** Stage 3: checks what relates values to each other, and fills in the defaults. */
class Normaliser {
  private readonly params: Record<string, unknown>;
  private readonly jobKeys: string[];
  /** The file's jobs and the existing ones its jobs may need. */
  private readonly knownJobs: string[];
  private readonly jobOutputs: Map<string, string[]>;

  private readonly file: PipelineFile;
  private readonly report: Report;
  private readonly label: (path: Path) => string;
  /** Whether anything was reported yet: matrices are expanded only from a sound file. */
  private readonly faulty: () => boolean;

  constructor(file: PipelineFile, report: Report, label: (path: Path) => string, faulty: () => boolean, existingJobs: Record<string, string[]> = {}) {
    this.file = file;
    this.report = report;
    this.label = label;
    this.faulty = faulty;
    this.params = withLineageParams(file);
    this.jobKeys = Object.keys(file.jobs);
    // An approval job's outputs are its inputs.
    const outputsOf = (job: PipelineFile["jobs"][string]) => Object.keys(job.type === "approval" ? (job.approval?.inputs ?? {}) : (job.outputs ?? {}));
    this.jobOutputs = new Map(this.jobKeys.map((key) => [key, outputsOf(file.jobs[key]!)]));
    for (const [key, outputs] of Object.entries(existingJobs)) if (!this.jobOutputs.has(key)) this.jobOutputs.set(key, outputs);
    this.knownJobs = [...this.jobOutputs.keys()];
  }

  pipeline(options: ParseOptions): Pipeline {
    const { file } = this;
    const stepsWhy = "step outputs are not available in the pipeline's env";
    this.env(file.env ?? {}, ["env"], { steps: null, stepsWhy, needs: null, secrets: true });
    const written = this.jobKeys.map((key) => this.job(key, file.jobs[key]!));
    if (options.queueRefusal) reportRefusedQueues(file, written, options.queueRefusal, (path, message) => this.fault(path, message));
    reportCycles(
      written.map((job) => ({ id: job.key, needs: job.needs })),
      "jobs form a cycle",
      (from, to) => ["jobs", from, "needs", file.jobs[from]!.needs!.indexOf(to)],
      this.report,
    );
    const jobs = this.faulty() ? written : expandPipelineMatrices(written, (key) => this.file.jobs[key]!.matrix, (path, message) => this.fault(path, message));
    const on = file.on;
    // A schedule has nobody to ask for a param's value: every param needs a default.
    if (on?.schedule !== undefined || on?.dataset !== undefined) {
      const trigger = on?.schedule !== undefined ? "a scheduled run" : "a run started by a dataset";
      for (const [name, param] of Object.entries(withLineageParams(file))) {
        if (param.default === undefined) {
          this.fault(["params", name], `param '${name}' has no default, so ${trigger} could not start: give it a default`);
        }
      }
    }
    return {
      name: file.name ?? options.name ?? "pipeline",
      env: file.env ?? {},
      params: Object.fromEntries(
        Object.entries(withLineageParams(file)).map(([name, { default: value, description }]) => [
          name,
          { ...(value !== undefined && { default: value }), ...(description !== undefined && { description }) },
        ]),
      ),
      on: {
        // `push:` with no branches means every branch; `pull_request:` lists none for every branch.
        ...(on?.push !== undefined && { push: { branches: on.push?.branches ?? ["**"] } }),
        ...(on?.pull_request !== undefined && { pullRequest: { branches: on.pull_request?.branches ?? [] } }),
        ...(on?.schedule !== undefined && { schedule: on.schedule }),
        ...(on?.dataset !== undefined && { dataset: on.dataset }),
      },
      jobs,
    };
  }

  private job(key: string, job: PipelineFile["jobs"][string]): PipelineJob {
    const at = (...rest: Path): Path => ["jobs", key, ...rest];
    const needs = [...new Set(job.needs ?? [])];
    (job.needs ?? []).forEach((need, i) => {
      if (!this.knownJobs.includes(need)) this.fault(at("needs", i), unknown("job", need, this.knownJobs));
    });

    // Step ids: given, or `step-<n>`. A duplicate is reported where the second one is.
    const ids = job.steps.map((step, i) => step.id ?? `step-${i + 1}`);
    const firstAt = new Map<string, number>();
    ids.forEach((id, i) => {
      const first = firstAt.get(id);
      if (first === undefined) return void firstAt.set(id, i);
      const given = job.steps[i]!.id != null;
      const implicit = given ? "" : ` (this step has no id, so it gets "${id}")`;
      this.fault(given ? at("steps", i, "id") : at("steps", i), `duplicate step id "${id}"${implicit}; ${pathLabel(at("steps", first))} has it already`);
    });

    // A step without `needs:` waits for the one before it (sequential, as in GitHub Actions).
    const stepNeeds = job.steps.map((step, i) =>
      step.needs !== undefined ? [...new Set(step.needs)] : i === 0 ? [] : [ids[i - 1]!],
    );
    const stepNodes: GraphNode[] = ids.map((id, i) => ({ id, needs: stepNeeds[i]! }));
    job.steps.forEach((step, i) =>
      (step.needs ?? []).forEach((need, j) => {
        if (!ids.includes(need)) this.fault(at("steps", i, "needs", j), unknown("step", need, ids));
      }),
    );
    reportCycles(
      stepNodes,
      `steps of job "${key}" form a cycle`,
      (from, to) => {
        const i = ids.indexOf(from);
        const explicit = job.steps[i]!.needs;
        return explicit ? at("steps", i, "needs", explicit.indexOf(to)) : at("steps", i);
      },
      this.report,
      (from) => job.steps[ids.indexOf(from)]!.needs === undefined,
    );

    // Templates. A job's env is set before any step runs, so it cannot see step outputs.
    const jobNeeds = new Set(needs);
    const jobSteps = new Set(ids);
    const matrix = matrixKeys(matrixSpec(job.matrix));
    const stepsWhy = "step outputs are not available in a job's env; set the variable in the step's env";
    this.env(job.env ?? {}, at("env"), { steps: null, stepsWhy, needs: jobNeeds, secrets: true, matrix });
    job["runs-on"].forEach((label, i) => this.templates(label, at("runs-on", i), { steps: null, needs: null, secrets: false, matrix }));
    const conditionScope: ConditionScope = {
      params: new Set(Object.keys(this.params)),
      needs: new Map(needs.map((need) => [need, this.jobOutputs.get(need) ?? []])),
      jobKeys: this.knownJobs,
      matrix,
      matrixJobs: new Set(this.jobKeys.filter((k) => this.file.jobs[k]!.matrix)),
    };
    if (job.if != null) this.condition(job.if, at("if"), conditionScope);
    const steps = job.steps.map((step, i): PipelineStep => {
      const id = ids[i]!;
      const upstream = upstreamOf(stepNodes, [id]).filter((other) => other !== id);
      if (step.if != null) {
        this.condition(step.if, at("steps", i, "if"), { ...conditionScope, steps: { upstream: new Set(upstream), all: jobSteps, self: id } });
      }
      const scope: Scope = { steps: new Set(upstream), jobSteps, self: id, needs: jobNeeds, secrets: true, matrix };
      // Templated fields: run, env values, working-directory (docs/pipelines.md). `name` is shown as written.
      this.templates(step.run, at("steps", i, "run"), scope);
      const directory = step["working-directory"];
      if (directory != null) this.templates(directory, at("steps", i, "working-directory"), scope);
      this.env(step.env ?? {}, at("steps", i, "env"), scope);
      return {
        id,
        name: step.name ?? id,
        run: step.run,
        needs: stepNeeds[i]!,
        env: step.env ?? {},
        continueOnError: step["continue-on-error"] ?? false,
        timeoutMs: step.timeout ?? null,
        retries: step.retries ?? 0,
        shell: step.shell ?? null,
        workingDirectory: directory ?? null,
        ...(step.if != null && { if: step.if }),
      };
    });
    // A job's outputs are rendered when the job ends, so every step's outputs are available.
    for (const [name, value] of Object.entries(job.outputs ?? {})) {
      this.templates(value, at("outputs", name), { steps: jobSteps, jobSteps, needs: jobNeeds, secrets: false, matrix });
    }

    for (const [path, message] of approvalProblems(job)) this.fault(at(...path), message);
    const retry = retryPolicyOf(job.retries);
    for (const [path, message] of retry.problems) this.fault(at("retries", ...path), message);
    const approval = approvalSpec(job);
    // Cache keys: ordinary templates (no step outputs: the key is needed before the first step), plus hashFiles(...).
    const caches = (job.cache ?? []).map((c, i) => {
      const cacheScope: Scope = { steps: null, needs: jobNeeds, secrets: false, stepsWhy: "a cache key is rendered before the first step" };
      this.templates(withoutHashFiles(c.key), at("cache", i, "key"), cacheScope);
      return { key: c.key, paths: c.paths, restoreKeys: c["restore-keys"] ?? [] };
    });
    const datasets = (list: { namespace: string; name: string }[] | null | undefined) =>
      (list ?? []).map(({ namespace, name }) => ({ namespace, name }));
    return {
      key,
      queue: job.queue ?? this.file.queue ?? DEFAULT_QUEUE,
      runsOn: approval ? [] : job["runs-on"],
      priority: job.priority ?? 0,
      timeoutMs: job.timeout ?? PIPELINE_DEFAULTS.jobTimeoutMs,
      retries: job.retries?.limit ?? 0,
      ...(retry.policy && { retryPolicy: retry.policy }),
      ...(job.if != null && { if: job.if }),
      needs,
      env: job.env ?? {},
      steps: approval ? [] : steps,
      ...(approval && { approval }),
      outputs: job.outputs ?? {},
      artifacts: job.artifacts ?? [],
      caches,
      lineage: { inputs: datasets(job.lineage?.inputs), outputs: datasets(job.lineage?.outputs) },
      ...this.gates(job, ids, at),
    };
  }

  /** Reports each problem of an `if:` at its place inside the condition's text. */
  private condition(text: string, path: Path, scope: ConditionScope): void {
    for (const problem of checkCondition(text, scope)) {
      // At the end of the text (something missing) it points at the last character.
      const start = Math.min(problem.offset, Math.max(0, text.length - 1));
      const source = text.slice(start);
      const inText = source === "" ? undefined : { value: text, start, source };
      this.report(path, `${pathLabel(path)}: ${problem.message}`, "value", inText);
    }
  }

  /** A job's metric gates, each naming one of the job's steps. */
  private gates(job: PipelineFile["jobs"][string], stepIds: string[], at: (...rest: Path) => Path): { gates?: MetricGate[] } {
    const gates = normaliseGates(job.gates);
    gates.forEach((g, i) => {
      if (!stepIds.includes(g.step)) this.fault(at("gates", i, "metric"), unknown("step", g.step, stepIds));
    });
    // No `gates` key when there are none: definitions stay as they were before gates existed.
    return gates.length > 0 ? { gates } : {};
  }

  private fault(path: Path, message: string): void {
    this.report(path, `${this.label(path)}: ${message}`);
  }

  private env(env: Record<string, string>, path: Path, scope: Scope): void {
    for (const [name, value] of Object.entries(env)) this.templates(value, [...path, name], scope);
  }

  /** Checks every template in `value` (found at `path`) against what `scope` makes available. */
  private templates(value: string, path: Path, scope: Scope): void {
    const { templates, errors } = parseTemplates(value);
    for (const error of errors) {
      // Located by its `${{`: an unclosed template's text runs to the end of the value.
      this.report(path, `${pathLabel(path)}: ${error.message}`, "value", { value, start: error.start, source: "${{" });
    }
    for (const t of templates) {
      const why = this.whyNot(t, scope);
      if (why) this.report(path, `${pathLabel(path)}: ${t.source}: ${why}`, "value", { value, start: t.start, source: t.source });
    }
  }

  /** Null when `t` may be used in `scope`, else why not. */
  private whyNot(t: Template, scope: Scope): string | null {
    const name = t.path[1]!;
    switch (t.root) {
      case "steps":
        if (!scope.steps) return scope.stepsWhy ?? "step outputs are not available here";
        if (name === scope.self) return "a step cannot read its own outputs";
        if (scope.jobSteps && !scope.jobSteps.has(name)) return unknown("step", name, [...scope.jobSteps]);
        if (!scope.steps.has(name)) return `step "${name}" does not run before this one; add it to this step's needs`;
        return null;
      case "needs":
        if (!scope.needs) return "needs.* is only available inside a job";
        if (!this.jobOutputs.has(name)) return unknown("job", name, this.knownJobs);
        if (!scope.needs.has(name)) return `job "${name}" is not in this job's needs; add it there`;
        if (this.file.jobs[name]?.matrix) return `job "${name}" has a matrix: its outputs are per instance, and needs.* cannot name one`;
        if (!this.jobOutputs.get(name)!.includes(t.path[3]!)) return `job "${name}" declares no output "${t.path[3]}"`;
        return null;
      case "params":
        return Object.hasOwn(this.params, name) ? null : `unknown param "${name}"; declare it under params:`;
      case "secrets":
        return scope.secrets ? null : "secrets may not be copied into job outputs";
      case "run":
        return null;
      case "matrix":
        if (!scope.matrix || scope.matrix.size === 0) return "this job has no matrix";
        return scope.matrix.has(name) ? null : `the matrix has no key "${name}"; it has ${[...scope.matrix].join(", ")}`;
    }
  }
}

/**
 * Reports every cycle, one problem each, at the `needs` entry where the cycle's first node
 * names the next. After each cycle its nodes are set aside, so each further report is a new
 * cycle rather than the same one seen from another node.
 */
function reportCycles(
  nodes: GraphNode[],
  what: string,
  placeOf: (from: string, to: string) => Path,
  report: Report,
  isImplicit: (from: string) => boolean = () => false,
): void {
  let rest = nodes;
  for (let cycle = findCycle(rest); cycle; cycle = findCycle(rest)) {
    const path = placeOf(cycle[0]!, cycle[1]!);
    const hint = cycle.slice(0, -1).some(isImplicit) ? " (a step without needs: waits for the step before it)" : "";
    report(path, `${what}: ${cycle.join(" → ")}${hint}`);
    const inCycle = new Set(cycle);
    rest = rest.filter((node) => !inCycle.has(node.id));
  }
}
