/**
 * `matrix:` on a job (docs/pipelines.md, "Matrix"): one job per combination of values. The
 * parser expands a matrix job into its instances, so everything downstream — the engine, the
 * dispatcher, the agent — sees ordinary jobs; each instance keeps its combination in `matrix`.
 */
import { LABEL } from "../protocol.ts";
import { IDENTIFIER, renderTemplate } from "../templates.ts";
import type { PipelineFile } from "./schema.ts";
import { PIPELINE_DEFAULTS, type PipelineJob } from "./types.ts";

/** The most instances one matrix may make (GitHub Actions' limit too). */
export const MAX_MATRIX_COMBINATIONS = 256;
/** Before `exclude`: past this the values are surely a slip, and not worth multiplying out. */
export const MAX_MATRIX_PRODUCT = 4096;

export interface MatrixSpec {
  /** Key → values, in file order. */
  dimensions: Record<string, string[]>;
  include: Record<string, string>[];
  exclude: Record<string, string>[];
  maxParallel: number | null;
}

const matches = (combo: Record<string, string>, pattern: Record<string, string>) =>
  Object.entries(pattern).every(([k, v]) => combo[k] === v);

/**
 * The combinations, in order: the product of the values (first key slowest), without those an
 * `exclude` entry matches, then each `include` entry merged into every combination whose own
 * values it does not change, or added as a combination of its own when it fits none (as in
 * GitHub Actions).
 */
export function matrixCombinations(spec: MatrixSpec): { ok: true; combinations: Record<string, string>[] } | { ok: false; message: string } {
  const keys = Object.keys(spec.dimensions);
  const product = keys.reduce((n, k) => n * spec.dimensions[k]!.length, 1);
  if (product > MAX_MATRIX_PRODUCT) {
    return { ok: false, message: `the matrix's values make ${product} combinations; at most ${MAX_MATRIX_COMBINATIONS} may run (${MAX_MATRIX_PRODUCT} before exclude)` };
  }
  let combinations: Record<string, string>[] = keys.length === 0 ? [] : [{}];
  for (const key of keys) combinations = combinations.flatMap((c) => spec.dimensions[key]!.map((v) => ({ ...c, [key]: v })));
  combinations = combinations.filter((c) => !spec.exclude.some((pattern) => matches(c, pattern)));
  const original = combinations.length;
  for (const entry of spec.include) {
    let merged = false;
    for (let i = 0; i < original; i++) {
      const combo = combinations[i]!;
      const own = Object.entries(entry).filter(([k]) => keys.includes(k));
      if (own.every(([k, v]) => combo[k] === v)) {
        combinations[i] = { ...combo, ...entry };
        merged = true;
      }
    }
    if (!merged && !combinations.some((c) => matches(c, entry) && matches(entry, c))) combinations.push({ ...entry });
  }
  if (combinations.length === 0) return { ok: false, message: "the matrix makes no combination (exclude removes them all)" };
  if (combinations.length > MAX_MATRIX_COMBINATIONS) {
    return { ok: false, message: `the matrix makes ${combinations.length} combinations; the limit is ${MAX_MATRIX_COMBINATIONS}` };
  }
  return { ok: true, combinations };
}

/** `test (linux, 20)`: the job key and the combination's values, stable across runs. */
export function instanceKey(job: string, combination: Record<string, string>): string {
  return `${job} (${Object.values(combination).join(", ")})`;
}

/** The job for one combination: `${{ matrix.<key> }}` rendered wherever templates go. */
function instance(job: PipelineJob, key: string, values: Record<string, string>, maxParallel: number | null): PipelineJob {
  const render = (text: string) => renderTemplate(text, ([root, name]) => (root === "matrix" ? (values[name!] ?? "") : undefined));
  const renderAll = (record: Record<string, string>) => Object.fromEntries(Object.entries(record).map(([k, v]) => [k, render(v)]));
  return {
    ...job,
    key,
    runsOn: job.runsOn.map(render),
    env: renderAll(job.env),
    steps: job.steps.map((s) => ({
      ...s,
      name: render(s.name),
      run: render(s.run),
      env: renderAll(s.env),
      workingDirectory: s.workingDirectory === null ? null : render(s.workingDirectory),
    })),
    outputs: renderAll(job.outputs),
    artifacts: job.artifacts.map(render),
    matrix: { job: job.key, values, maxParallel },
  };
}

/**
 * Every matrix job replaced by its instances (in place, in combination order), and every
 * `needs` of a matrix job by all of its instances. `specs` holds the matrix of each matrix
 * job, whose combinations were checked already (`matrixCombinations`).
 */
export function expandMatrices(jobs: PipelineJob[], specs: ReadonlyMap<string, MatrixSpec>): PipelineJob[] {
  const instances = new Map<string, PipelineJob[]>();
  for (const job of jobs) {
    const spec = specs.get(job.key);
    if (!spec) continue;
    const result = matrixCombinations(spec);
    if (!result.ok) throw new Error(`matrix of ${job.key}: ${result.message}`);
    const taken = new Set<string>();
    instances.set(
      job.key,
      result.combinations.map((values, i) => {
        // Two combinations whose values print alike ("a, b" + "c" and "a" + "b, c") stay apart.
        let key = instanceKey(job.key, values);
        if (taken.has(key)) key = `${key} #${i + 1}`;
        taken.add(key);
        return instance(job, key, values, spec.maxParallel);
      }),
    );
  }
  if (instances.size === 0) return jobs;
  const needs = (list: string[]) => list.flatMap((n) => instances.get(n)?.map((i) => i.key) ?? [n]);
  return jobs.flatMap((job) => instances.get(job.key) ?? [job]).map((job) => ({ ...job, needs: needs(job.needs) }));
}

type RawMatrix = PipelineFile["jobs"][string]["matrix"];

/** A job's `matrix:` as the schema gives it → a spec; null without one. */
export function matrixSpec(raw: RawMatrix): MatrixSpec | null {
  if (!raw) return null;
  const { include, exclude, "max-parallel": maxParallel, ...dimensions } = raw;
  return { dimensions: dimensions as Record<string, string[]>, include: include ?? [], exclude: exclude ?? [], maxParallel: maxParallel ?? null };
}

/** Every key a matrix gives (`matrix.<key>`), `include` entries' included. */
export function matrixKeys(spec: MatrixSpec | null): Set<string> {
  if (!spec) return new Set();
  return new Set([...Object.keys(spec.dimensions), ...spec.include.flatMap((entry) => Object.keys(entry))]);
}

/**
 * The parser's step: every matrix checked (keys, combination limits), then expanded, then each
 * label of each job must be a label once `${{ matrix.* }}` is rendered. `fault` reports a
 * problem at a path of the file as written; with any matrix at fault nothing is expanded.
 */
export function expandPipelineMatrices(
  jobs: PipelineJob[],
  matrixOf: (key: string) => RawMatrix,
  fault: (path: (string | number)[], message: string) => void,
): PipelineJob[] {
  const specs = new Map<string, MatrixSpec>();
  let faulty = false;
  for (const job of jobs) {
    const spec = matrixSpec(matrixOf(job.key));
    if (!spec) continue;
    const at = ["jobs", job.key, "matrix"];
    for (const name of matrixKeys(spec)) {
      if (!IDENTIFIER.test(name)) {
        fault(at, `matrix key "${name}" must start with a letter or _ and contain only letters, digits, _ and -`);
        faulty = true;
      }
    }
    if (Object.keys(spec.dimensions).length === 0 && spec.include.length === 0) {
      fault(at, "a matrix needs at least one key with a list of values");
      faulty = true;
      continue;
    }
    const result = matrixCombinations(spec);
    if (result.ok) specs.set(job.key, spec);
    else {
      fault(at, result.message);
      faulty = true;
    }
  }
  if (faulty) return jobs;
  const expanded = expandMatrices(jobs, specs);
  if (expanded.length > PIPELINE_DEFAULTS.maxJobs) {
    fault(["jobs"], `the matrices make ${expanded.length} jobs; the limit is ${PIPELINE_DEFAULTS.maxJobs}`);
  }
  for (const job of expanded) {
    job.runsOn.forEach((label, i) => {
      if (LABEL.safeParse(label).success) return;
      const why = label.includes("${{")
        ? "only ${{ matrix.<key> }} templates may be used in runs-on, and only in a job with a matrix"
        : `"${label}" (from the matrix) is not a label: 1–63 letters, digits, '_', '.', ':' or '-'`;
      fault(["jobs", job.matrix?.job ?? job.key, "runs-on", i], job.matrix ? `${job.key}: ${why}` : why);
    });
  }
  return expanded;
}
