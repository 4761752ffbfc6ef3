
import { withoutHashFiles } from "../caches.ts";
import { parseTemplates, type Template } from "../templates.ts";
import { DEFAULT_QUEUE } from "../queues.ts";
import { concurrencySpec } from "./concurrency.ts";
import { type MetricGate, normaliseGates } from "./gates.ts";
import { reportRefusedQueues } from "./queue-check.ts";
import { checkCondition, type ConditionScope } from "./conditions.ts";
import { findCycle, upstreamOf, type GraphNode } from "./graph.ts";
import { expandPipelineMatrices, matrixKeys, matrixSpec } from "./matrix.ts";
import { approvalProblems, approvalSpec } from "./approval.ts";
import { retryPolicyOf } from "./retry-policy.ts";
import { closestMatch, type PipelineFile } from "./schema.ts";
import { withLineageParams } from "../triggers/dataset.ts";
import {
  PIPELINE_DEFAULTS,
  type Pipeline,
  type PipelineJob,
  type PipelineStep,
} from "./types.ts";
import { Locator, type Path, pathLabel } from "./locator.ts";
import type { ParseOptions } from "./parse.ts";

/** Where each template may point, for one templated field. */
export interface Scope {
  /** Steps whose outputs are available; null: `steps.*` is refused here with `stepsWhy`. */
  steps: Set<string> | null;
  stepsWhy?: string;
  /** All step ids of the job, to tell "unknown step" from "not needed". */
  jobSteps?: Set<string>;
  self?: string;
  /** Jobs whose outputs are available; null: `needs.*` is refused here. */
  needs: Set<string> | null;
  secrets: boolean;
  secretsWhy?: string;
  needsWhy?: string;
  /** The job's matrix keys (none: `matrix.*` is refused). */
  matrix?: ReadonlySet<string>;
}

export type Report = (path: Path, message: string, at?: "key" | "value", template?: Parameters<Locator["at"]>[2]) => void;

/** A concurrency group is rendered before any job runs: no step or job outputs, no secrets. */
const GROUP_SCOPE: Scope = {
  steps: null,
  stepsWhy: "a concurrency group is chosen before the job runs",
  needs: null,
  needsWhy: "a concurrency group is chosen before the job runs, so needs.* is not known yet",
  secrets: false,
  secretsWhy: "a concurrency group is shown to everyone who can read the project",
};

function unknown(what: string, name: string, candidates: string[]): string {
  const guess = closestMatch(name, candidates);
  return `unknown ${what} "${name}"${guess ? ` — did you mean "${guess}"?` : ""}`;
}

/** Stage 3: checks what relates values to each other, and fills in the defaults. */
export class Normaliser {
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
    const group = concurrencySpec(file.concurrency);
    if (group) this.templates(group.group, ["concurrency", "group"], GROUP_SCOPE);
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
      ...(group && { concurrency: group }),
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
    const group = concurrencySpec(job.concurrency);
    if (group) this.templates(group.group, at("concurrency", "group"), { ...GROUP_SCOPE, matrix });
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
      ...(group && { concurrency: group }),
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
        if (!scope.needs) return scope.needsWhy ?? "needs.* is only available inside a job";
        if (!this.jobOutputs.has(name)) return unknown("job", name, this.knownJobs);
        if (!scope.needs.has(name)) return `job "${name}" is not in this job's needs; add it there`;
        if (this.file.jobs[name]?.matrix) return `job "${name}" has a matrix: its outputs are per instance, and needs.* cannot name one`;
        if (!this.jobOutputs.get(name)!.includes(t.path[3]!)) return `job "${name}" declares no output "${t.path[3]}"`;
        return null;
      case "params":
        return Object.hasOwn(this.params, name) ? null : `unknown param "${name}"; declare it under params:`;
      case "secrets":
        return scope.secrets ? null : (scope.secretsWhy ?? "secrets may not be copied into job outputs");
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
export function reportCycles(
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

