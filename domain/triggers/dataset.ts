/**
 * `on: { dataset: [{namespace, name}] }` (docs/pipelines.md, docs/lineage.md "Triggers"): a
 * COMPLETE OpenLineage event whose outputs match starts the pipeline. The namespace is compared
 * exactly; the name is a glob (minimatch: `*` stays within one `/` segment, `**` crosses them;
 * `.` and `/` are ordinary characters, so `db.schema.*` takes every table of a schema).
 *
 * Chains: a run started this way knows the pipelines upstream of it (`UpstreamRun.chain`). A
 * pipeline already in the chain — it would start itself again, directly or through others — or
 * a chain MAX_CHAIN_DEPTH runs long is not started, and the refusal is recorded (loop / too_deep).
 */
import { minimatch } from "minimatch";

export interface DatasetTrigger {
  namespace: string;
  /** A glob over the dataset's name. */
  name: string;
}

export interface DatasetRef {
  namespace: string;
  name: string;
}

/** The params a dataset-triggered run gets; a pipeline with `on: dataset` declares them (default ""). */
export const LINEAGE_PARAMS = ["dataset_namespace", "dataset_name", "upstream_run"] as const;

/** How many runs one chain of dataset triggers may start, one after the other. */
export const MAX_CHAIN_DEPTH = 10;

const OPTIONS = { dot: true, nocomment: true, nonegate: true, noext: false } as const;

export function datasetMatches(trigger: DatasetTrigger, dataset: DatasetRef): boolean {
  return trigger.namespace === dataset.namespace && minimatch(dataset.name, trigger.name, OPTIONS);
}

/** The event's outputs that `triggers` take, in the event's order, without repeats. */
export function matchingOutputs(triggers: readonly DatasetTrigger[], outputs: readonly DatasetRef[]): DatasetRef[] {
  const seen = new Set<string>();
  const matched: DatasetRef[] = [];
  for (const output of outputs) {
    const key = JSON.stringify([output.namespace, output.name]);
    if (seen.has(key) || !triggers.some((t) => datasetMatches(t, output))) continue;
    seen.add(key);
    matched.push(output);
  }
  return matched;
}

/**
 * The run whose COMPLETE event started a run: named in the started run's lineage `parent`
 * facet, and the chain of Yardmaster pipelines (`project/pipeline`) that led to it.
 */
export interface UpstreamRun {
  namespace: string;
  /** The upstream OpenLineage job's name. */
  name: string;
  runId: string;
  /** The first run of the chain (the upstream's own root, or the upstream itself). */
  root: { namespace: string; name: string; runId: string };
  /** The output that matched (the first one, when several did). */
  dataset: DatasetRef;
  /** Yardmaster pipelines upstream of the started run, oldest first (`project/pipeline`). */
  chain: string[];
}

export type ChainRefusal = { outcome: "loop" | "too_deep"; message: string };

/** Why `target` may not start from an upstream with `chain`, or null when it may. */
export function chainRefusal(chain: readonly string[], target: string): ChainRefusal | null {
  if (chain.includes(target)) {
    const from = chain.indexOf(target);
    return { outcome: "loop", message: `not started: ${[...chain.slice(from), target].join(" → ")} is a loop (the chain would start ${target} again)` };
  }
  if (chain.length >= MAX_CHAIN_DEPTH) {
    return { outcome: "too_deep", message: `not started: the chain ${chain.join(" → ")} is already ${chain.length} runs long (at most ${MAX_CHAIN_DEPTH})` };
  }
  return null;
}

/** The pipeline's key in a chain. */
export const chainKey = (project: string, pipeline: string) => `${project}/${pipeline}`;

/**
 * The params of a pipeline file, with LINEAGE_PARAMS declared (default "") when it has
 * `on: dataset` and does not declare them itself: a dataset-started run always has them, and
 * any other run of the pipeline (manual, schedule) gets empty values.
 */
export function withLineageParams<P extends { default?: string; description?: string }>(file: {
  on?: { dataset?: unknown } | null;
  params?: Record<string, P> | null;
}): Record<string, P | { default: string; description: string }> {
  const params: Record<string, P | { default: string; description: string }> = { ...(file.params ?? {}) };
  if (file.on?.dataset === undefined) return params;
  for (const name of LINEAGE_PARAMS) {
    if (!Object.hasOwn(params, name)) params[name] = { default: "", description: "set by a dataset trigger (on: dataset)" };
  }
  return params;
}
