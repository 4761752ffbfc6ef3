/**
 * The normalised shape of a `.act` pipeline file after parsing and validation
 * (see docs/pipelines.md for the file format). Everything downstream — the RunObject, the
 * dispatcher, the agent, the dashboard — works from this shape, never from raw YAML.
 */

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
}

export interface PipelineJob {
  key: string;
  /** The queue (DispatcherObject) its attempts wait in: the job's `queue:`, else the pipeline's, else `default`. */
  queue: string;
  runsOn: string[];
  /** Higher is claimed first. */
  priority: number;
  timeoutMs: number;
  /** Job attempts after the first. */
  retries: number;
  needs: string[];
  env: Record<string, string>;
  steps: PipelineStep[];
  /** Output name → template, usually `${{ steps.<id>.outputs.<key> }}`. */
  outputs: Record<string, string>;
  /** Globs, relative to the job's working directory. */
  artifacts: string[];
  lineage: { inputs: Dataset[]; outputs: Dataset[] };
}

export interface Pipeline {
  name: string;
  env: Record<string, string>;
  params: Record<string, PipelineParam>;
  on: PipelineTriggers;
  /** In file order. */
  jobs: PipelineJob[];
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
