/**
 * The normalised shape of a `.act` pipeline file after parsing and validation
 * (see docs/pipelines.md for the file format). Everything downstream — the RunObject, the
 * dispatcher, the agent, the dashboard — works from this shape, never from raw YAML.
 */
import type { DatasetTrigger } from "../triggers/dataset.ts";

import type { ConcurrencySpec } from "./concurrency.ts";
import type { MetricGate } from "./gates.ts";
import type { JobCache } from "../caches.ts";

export interface Dataset {
  namespace: string;
  name: string;
}

export interface PipelineParam {
  /** Used when a run gives no value. A param without a default is required. */
  default?: string;
  description?: string;
}

export interface PipelineTriggers {
  /** Branch globs for `push`; `undefined` = the pipeline does not start on pushes. */
  push?: { branches: string[] };
  /** Base-branch globs for `pull_request` (empty = every branch). */
  pullRequest?: { branches: string[] };
  /** Cron expressions (5 fields, UTC). */
  schedule?: string[];
  /** Datasets whose COMPLETE events start the pipeline (domain/triggers/dataset.ts). */
  dataset?: DatasetTrigger[];
}

export interface PipelineStep {
  /** Given in the file, or `step-<n>` (1-based position) when omitted. */
  id: string;
  name: string;
  run: string;
  /**
   * The steps this one waits for. A step without a `needs:` key waits for the step before it
   * (sequential, as in GitHub Actions); `needs: []` starts at once.
   */
  needs: string[];
  env: Record<string, string>;
  continueOnError: boolean;
  timeoutMs: number | null;
  /** Attempts after the first. */
  retries: number;
  shell: string | null;
  workingDirectory: string | null;
  /** `if:` as written (domain/expressions.ts), evaluated by the agent; absent = `success()`. */
  if?: string;
}

export interface PipelineJob {
  key: string;
  /** The queue (DispatcherObject) its attempts wait in: the job's `queue:`, else the pipeline's, else `default`. */
  queue: string;
  runsOn: string[];
  /** Higher is claimed first. */
  priority: number;
  timeoutMs: number;
  /** Job attempts after the first (the retry policy's `limit`). */
  retries: number;
  /** When a failed job attempt is retried; absent (older pipelines) = RETRY_DEFAULTS. */
  retryPolicy?: RetryPolicy;
  /** `if:` as written (domain/expressions.ts), evaluated by the engine; absent = `success()`. */
  if?: string;
  /**
   * A `type: approval` job: no agent, no steps; it waits for a person's approve or reject
   * (docs/pipelines.md, "Approvals"). Its `runsOn` and `steps` are empty.
   */
  approval?: ApprovalSpec;
  /** Set on each instance of a matrix job (matrix.ts): the job as written, its combination. */
  matrix?: { job: string; values: Record<string, string>; maxParallel: number | null };
  needs: string[];
  env: Record<string, string>;
  steps: PipelineStep[];
  /** Output name → template, usually `${{ steps.<id>.outputs.<key> }}`. */
  outputs: Record<string, string>;
  /** Globs, relative to the job's working directory. */
  artifacts: string[];
  /** `cache:` entries (domain/caches.ts); keys still templated. */
  caches: JobCache[];
  lineage: { inputs: Dataset[]; outputs: Dataset[] };
  /** Metric gates (gates.ts); absent when the job has none (and in definitions stored before gates existed). */
  gates?: MetricGate[];
  /** `concurrency:` of the job (concurrency.ts); absent without one. */
  concurrency?: ConcurrencySpec;
}

export const APPROVAL_INPUT_TYPES = ["string", "number", "boolean"] as const;

export interface ApprovalSpec {
  prompt: string;
  /** Name → what the approver gives; the values become the job's outputs (as strings). */
  inputs: Record<string, { type: (typeof APPROVAL_INPUT_TYPES)[number]; required: boolean; default?: string; description?: string }>;
  /** How long it may wait, from when its needs allow it, before it fails (`timeout`); null = for ever. */
  timeoutMs: number | null;
}

/** What ended a failed job attempt, as `retries.on` names it. */
export const RETRY_CAUSES = ["failure", "lost", "timeout"] as const;
export type RetryCause = (typeof RETRY_CAUSES)[number];

export interface RetryPolicy {
  /** How long a retry waits before it is queued (not holding an agent meanwhile). */
  backoffMs: number;
  on: RetryCause[];
  /** A `failure` is retried only when the failing exit code is listed; null = any exit code. */
  exitCodes: number[] | null;
}

export const RETRY_DEFAULTS: RetryPolicy = { backoffMs: 0, on: ["failure", "lost", "timeout"], exitCodes: null };

export interface Pipeline {
  name: string;
  env: Record<string, string>;
  params: Record<string, PipelineParam>;
  on: PipelineTriggers;
  /** In file order. */
  jobs: PipelineJob[];
  /** `concurrency:` of the whole run (concurrency.ts); absent without one. */
  concurrency?: ConcurrencySpec;
}

/** One thing wrong with a pipeline file, located for the person who wrote it. */
export interface PipelineProblem {
  message: string;
  /** 1-based; 0 when the problem has no place in the file (e.g. an empty file). */
  line: number;
  column: number;
  /** Path into the YAML document, e.g. ["jobs", "test", "steps", 1, "needs"]. */
  path: (string | number)[];
}

export type ParseResult =
  | { ok: true; pipeline: Pipeline }
  | { ok: false; problems: PipelineProblem[] };

/** Defaults that the parser fills in; documented in docs/pipelines.md. */
export const PIPELINE_DEFAULTS = {
  jobTimeoutMs: 60 * 60 * 1000,
  maxRetries: 10,
  maxFileBytes: 256 * 1024,
  maxJobs: 1000,
  maxStepsPerJob: 200,
  /**
   * The file with its YAML aliases expanded: one per node plus each scalar's characters
   * (domain/pipeline/expansion.ts). A file without aliases stays well under it.
   */
  maxExpandedSize: 1024 * 1024,
  /**
   * The normalised pipeline as stored (JSON, UTF-8 bytes): one D1 row and each run's own copy,
   * both of which refuse rows of 2 MB. Steps grow when normalised (~170 bytes each).
   */
  maxDefinitionBytes: 1_500_000,
} as const;
