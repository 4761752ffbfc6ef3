/**
 * The facets of Yardmaster's events, each built to its official schema (see producer.ts for
 * the versions). Pure: everything comes from the run's model and what the caller passes in.
 */
import type { PipelineJob } from "../pipeline/types.ts";
import type { JobAttemptState, JobState, RunAttemptState, RunInfo, StepState } from "../run-engine/model.ts";
import { redactRepository } from "../repository.ts";
import { facetBase, YARDMASTER_VERSION } from "./producer.ts";
import type { JobFacets, JobTypeFacet, OutputDataset, OutputStatistics, ParentRunFacet, RunFacets, SourceCodeLocationFacet } from "./types.ts";
import { isoTime } from "../time.ts";


export function jobTypeFacet(jobType: "PIPELINE" | "JOB"): JobTypeFacet {
  return { ...facetBase("jobType"), processingType: "BATCH", integration: "YARDMASTER", jobType };
}

/**
 * The repository as an RFC 3986 URI (the facet's `url` must be one): URLs as they are,
 * `user@host:path` (scp-like git) as `ssh://user@host/path`, an absolute path as `file://`.
 * Null when it cannot be made one.
 */
export function repositoryUri(repository: string): string | null {
  let candidate = repository;
  const scp = /^([A-Za-z0-9._-]+@[A-Za-z0-9.-]+):(?!\/\/)(.+)$/.exec(repository);
  if (scp) candidate = `ssh://${scp[1]}/${scp[2]!.replace(/^\//, "")}`;
  else if (repository.startsWith("/")) candidate = `file://${repository}`;
  let href: string;
  try {
    href = new URL(candidate).href;
  } catch {
    return null;
  }
  // WHATWG URLs leave a few characters unescaped that RFC 3986 does not allow.
  return href.replace(/[^A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]/g, (c) => encodeURIComponent(c));
}

export function sourceCodeLocationFacet(run: RunInfo): SourceCodeLocationFacet | undefined {
  if (!run.repository) return undefined;
  // Events are stored, listed and sent out: never with the URL's credentials.
  const repository = redactRepository(run.repository);
  const url = repositoryUri(repository);
  if (!url) return undefined;
  return {
    ...facetBase("sourceCodeLocation"),
    type: "git",
    url,
    repoUrl: repository,
    ...(run.commit ? { version: run.commit } : {}),
    ...(run.branch ? { branch: run.branch } : {}),
  };
}

export function jobFacets(run: RunInfo, jobType: "PIPELINE" | "JOB"): JobFacets {
  const source = sourceCodeLocationFacet(run);
  return { jobType: jobTypeFacet(jobType), ...(source ? { sourceCodeLocation: source } : {}) };
}

/**
 * A job attempt's parent is its run attempt. The root is the run attempt too (pipelines do not
 * nest) — unless a dataset started the run: then the root is the root of the upstream run's
 * chain, so a backend draws one tree across tools (docs/lineage.md, "Chains").
 */
export function parentFacet(run: RunInfo, attempt: RunAttemptState): ParentRunFacet {
  const pipelineJob = { namespace: run.project, name: run.pipeline, facets: { jobType: jobTypeFacet("PIPELINE") } };
  const root = run.upstream
    ? { run: { runId: run.upstream.root.runId }, job: { namespace: run.upstream.root.namespace, name: run.upstream.root.name } }
    : { run: { runId: attempt.id }, job: pipelineJob };
  return { ...facetBase("parent"), run: { runId: attempt.id }, job: pipelineJob, root };
}

/** A run attempt of a run a dataset started: its parent is the upstream run whose COMPLETE did it. */
export function upstreamParentFacet(run: RunInfo): ParentRunFacet | undefined {
  const upstream = run.upstream;
  if (!upstream) return undefined;
  return {
    ...facetBase("parent"),
    run: { runId: upstream.runId },
    job: { namespace: upstream.namespace, name: upstream.name },
    root: { run: { runId: upstream.root.runId }, job: { namespace: upstream.root.namespace, name: upstream.root.name } },
  };
}

/** The facets every event of the run carries. */
export function commonRunFacets(run: RunInfo): Pick<RunFacets, "processing_engine" | "nominalTime"> {
  return {
    processing_engine: { ...facetBase("processing_engine"), name: "Yardmaster", version: YARDMASTER_VERSION, openlineageAdapterVersion: YARDMASTER_VERSION },
    ...(run.nominalTime !== null ? { nominalTime: { ...facetBase("nominalTime"), nominalStartTime: isoTime(run.nominalTime) } } : {}),
  };
}

const STAT_FIELDS = ["rowCount", "size", "fileCount"] as const;

/**
 * outputStatistics from the job attempt's counters: `rowCount`, `size` (bytes) and `fileCount`
 * describe the job's only output; `<output name>.rowCount` (and so on) one of several. Counters
 * of the same name from several steps add up. The facet takes non-negative integers only.
 */
export function outputDatasets(def: PipelineJob, steps: readonly StepState[]): OutputDataset[] {
  const outputs = def.lineage.outputs;
  return outputs.map((dataset) => {
    const stats: Partial<Record<(typeof STAT_FIELDS)[number], number>> = {};
    for (const field of STAT_FIELDS) {
      const names = outputs.length === 1 ? [field, `${dataset.name}.${field}`] : [`${dataset.name}.${field}`];
      const values = steps.flatMap((s) => s.metrics).filter((m) => m.kind === "counter" && names.includes(m.name)).map((m) => m.value);
      const total = values.reduce((a, b) => a + b, 0);
      if (values.length > 0 && Number.isSafeInteger(total) && total >= 0) stats[field] = total;
    }
    const base = { namespace: dataset.namespace, name: dataset.name };
    if (Object.keys(stats).length === 0) return base;
    const outputStatistics: OutputStatistics = { ...facetBase("outputStatistics"), ...stats };
    return { ...base, outputFacets: { outputStatistics } };
  });
}

const MAX_MESSAGE = 2000;
const clip = (s: string) => (s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE - 1)}…` : s);

/** Why a job attempt failed, in one line: the failing step (the first to fail) or the job's reason. */
export function jobFailureMessage(def: PipelineJob, job: JobState, jobAttempt: JobAttemptState): { message: string; step: StepState | null } {
  const failed = jobAttempt.steps.filter((s) => s.status === "FAILED");
  const blocking = failed.filter((s) => !def.steps.find((d) => d.id === s.id)?.continueOnError);
  const step = (blocking.length > 0 ? blocking : failed).sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0))[0] ?? null;
  let message: string;
  if (step) {
    // The step says it all; the agent's job message would only repeat it ("step x failed").
    message = `step "${step.id}" of job "${job.key}" failed`;
    if (step.exitCode !== null) message += ` with exit code ${step.exitCode}`;
    if (step.reason && step.reason !== "exit_code") message += ` (${step.reason})`;
  } else {
    // No step failed: the job itself did (timeout, lost agent, checkout, …); its message says how.
    message = `job "${job.key}" failed${jobAttempt.reason ? ` (${jobAttempt.reason})` : ""}`;
    if (jobAttempt.message) message += `: ${jobAttempt.message}`;
  }
  return { message: clip(message), step };
}

/**
 * Why a job attempt, or the jobs of a run attempt, ended WARNING, in one line: the job attempt's
 * message — for a metric gate's breach, the metric, its value and the bound (run-engine/gates.ts)
 * — prefixed with the job's key when `named` (a run attempt's event). Null when nothing says why.
 */
export function warningMessage(jobs: { key: string; attempt: JobAttemptState | undefined }[], { named }: { named: boolean }): string | null {
  const said = jobs.flatMap(({ key, attempt }) =>
    attempt?.status === "WARNING" && attempt.message ? [named ? `job "${key}": ${oneLine(attempt.message)}` : oneLine(attempt.message)] : [],
  );
  return said.length > 0 ? clip(said.join("; ")) : null;
}

/** The agent's message and the gates' are joined by a line break (run-engine/job-lifecycle.ts). */
const oneLine = (message: string) => message.replace(/\s*\n\s*/g, "; ");

export function errorMessageFacet(message: string, stackTrace: string | null): NonNullable<RunFacets["errorMessage"]> {
  return { ...facetBase("errorMessage"), message: clip(message), programmingLanguage: "shell", ...(stackTrace ? { stackTrace } : {}) };
}
