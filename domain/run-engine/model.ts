/**
 * The in-memory model of one run, as the pure run engine reads and changes it. The RunObject
 * keeps one of these per run, persists what a command touched, and rebuilds it from storage
 * when it wakes. Times are milliseconds since the epoch.
 */
import { DEFAULT_QUEUE } from "../queues.ts";
import type { Pipeline } from "../pipeline/types.ts";
import type { Metric } from "../protocol.ts";
import type { State } from "../states.ts";
import type { UpstreamRun } from "../triggers/dataset.ts";

export interface StepAttemptState {
  number: number;
  status: State;
  exitCode: number | null;
  reason: string | null;
  startedAt: number | null;
  endedAt: number | null;
}

export interface StepState {
  id: string;
  name: string;
  needs: string[];
  /** The latest attempt's status (CREATED until the first attempt starts). */
  status: State;
  exitCode: number | null;
  reason: string | null;
  outputs: Record<string, string>;
  metrics: Metric[];
  startedAt: number | null;
  endedAt: number | null;
  attempts: StepAttemptState[];
}

export interface JobAttemptState {
  id: string;
  number: number;
  status: State;
  agentId: string | null;
  agentName: string | null;
  reason: string | null;
  message: string | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  /** When it was handed to the dispatcher (all needs met); null while it waits. */
  queuedAt: number | null;
  /** When the job attempt entered KILLING, to force KILLED if the agent never confirms. */
  killingSince: number | null;
  lastHeartbeatAt: number | null;
  /** SHA-256 (hex) of the job token's secret; null before the job is claimed. */
  tokenHash: string | null;
  /** A retry waiting out its backoff is queued only from this time on (absent: at once). */
  notBefore?: number | null;
  /** Why this failed attempt was, or was not, retried (the job's retry policy); absent: no decision. */
  retry?: string | null;
  /** An approval job: since when it waits for a person (its timeout counts from here). */
  awaitingSince?: number | null;
  /** An approval job: who approved or rejected it. */
  decidedBy?: string | null;
  steps: StepState[];
}

export interface JobState {
  id: string;
  key: string;
  needs: string[];
  labels: string[];
  priority: number;
  /**
   * The queue its attempts wait in (the job's `queue:`). Optional in stored state: runs stored
   * before queues existed have none and wait in `default` (use `jobQueue`).
   */
  queue?: string;
  /** Needs that have not succeeded yet: the job is queued only when this is empty. */
  waitingOn: string[];
  outputs: Record<string, string>;
  /** Set when a failed-only re-run kept this job's result from an earlier attempt. */
  reused: { attempt: number; jobId: string; status: State; reason?: string | null } | null;
  /** The job's claim on its `concurrency:` group (./concurrency.ts); absent without one. */
  concurrency?: ConcurrencyClaim;
  attempts: JobAttemptState[];
}

/** A run attempt's or a job's claim on a concurrency group, held for it by the project's ConcurrencyGroupsObject. */
export interface ConcurrencyClaim {
  /** The group's name, rendered. */
  group: string;
  cancelInProgress: boolean;
  /** waiting: asked for, not granted yet; held: granted; released: given back (its holder ended). */
  status: "waiting" | "held" | "released";
  /** `cancel-in-progress`: the newer run that cancelled this one. */
  supersededBy?: { runId: string; runNumber: number } | null;
}

export interface RunAttemptState {
  id: string;
  number: number;
  status: State;
  failedOnly: boolean;
  /** A re-run of chosen jobs: the names given (POST …/rerun {jobs}); absent otherwise. */
  rerunJobs?: string[];
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  /** The attempt's claim on the pipeline's `concurrency:` group (./concurrency.ts); absent without one. */
  concurrency?: ConcurrencyClaim;
  jobs: JobState[];
}

export interface RunInfo {
  id: string;
  number: number;
  projectId: string;
  project: string;
  repository: string | null;
  pipelineId: string;
  pipeline: string;
  pipelineVersionId: string;
  definition: Pipeline;
  branch: string | null;
  commit: string | null;
  trigger: string;
  params: Record<string, string>;
  /** The nominal (scheduled) time of a scheduled run. */
  nominalTime: number | null;
  /** A run started by a dataset (trigger `lineage`): the run upstream (domain/triggers/dataset.ts). */
  upstream?: UpstreamRun;
  createdAt: number;
  status: State;
  startedAt: number | null;
  endedAt: number | null;
  /** The run was started without project secrets (a pull request from a fork); its jobs' logs say so. */
  secretsWithheld?: boolean;
  /** Jobs added by `yardmaster-agent pipeline upload` (./append-jobs.ts), in upload order. */
  uploads?: UploadRecord[];
}

/** One upload: the job that uploaded, how deep in uploads it is (1 = from a stored job), the keys added. */
export interface UploadRecord {
  by: string;
  depth: number;
  jobs: string[];
}

export interface RunState {
  run: RunInfo;
  /** attempts[i].number === i + 1; the last one is the current attempt. */
  attempts: RunAttemptState[];
}

/** Everything the engine needs from outside: the clock, ids and timing settings. */
export interface EngineContext {
  now: number;
  newId: () => string;
  settings: EngineSettings;
}

export interface EngineSettings {
  /** A running job attempt with no heartbeat for this long is lost (agent_lost). */
  lostAfterMs: number;
  /** How long a KILLING job attempt may wait for its agent's confirmation before KILLED. */
  killGraceMs: number;
  /** Added to a job's timeout before the control plane fails it itself (the agent should first). */
  timeoutGraceMs: number;
}

export const DEFAULT_SETTINGS: EngineSettings = {
  lostAfterMs: 60_000,
  killGraceMs: 30_000,
  timeoutGraceMs: 30_000,
};

export function currentAttempt(state: RunState): RunAttemptState {
  const attempt = state.attempts[state.attempts.length - 1];
  if (!attempt) throw new Error("a run always has at least one attempt");
  return attempt;
}

/** A job attempt anywhere in the run (any run attempt), with its job and its run attempt. */
export function locateJobAttempt(
  state: RunState,
  jobAttemptId: string,
): { attempt: RunAttemptState; job: JobState; jobAttempt: JobAttemptState } | undefined {
  // Newest first: a job attempt is looked up by the agent running it, in the current attempt.
  for (let i = state.attempts.length - 1; i >= 0; i--) {
    const attempt = state.attempts[i]!;
    for (const job of attempt.jobs) {
      const jobAttempt = job.attempts.find((a) => a.id === jobAttemptId);
      if (jobAttempt) return { attempt, job, jobAttempt };
    }
  }
  return undefined;
}

export function latestJobAttempt(job: JobState): JobAttemptState | undefined {
  return job.attempts[job.attempts.length - 1];
}

/** What an approval job waits on once its needs allow it (approvals.ts). */
export const AWAITING_APPROVAL = "approval";

/** Why a job ended as it did: its kept reason when reused, else its latest attempt's. */
export function jobReason(job: JobState): string | null {
  if (job.reused) return job.reused.reason ?? null;
  return latestJobAttempt(job)?.reason ?? null;
}

/** A job whose condition was false: it ended KILLED, and counts as a success for its run. */
export function isSkipped(job: JobState): boolean {
  return jobStatus(job) === "KILLED" && jobReason(job) === "skipped";
}

/** A job's status: its kept result when reused, else its latest attempt's. */
export function jobStatus(job: JobState): State {
  if (job.reused) return job.reused.status;
  return latestJobAttempt(job)?.status ?? "CREATED";
}

/** The queue a job's attempts wait in: its own, or `default` for state stored before queues. */
export function jobQueue(job: Pick<JobState, "queue">): string {
  return job.queue ?? DEFAULT_QUEUE;
}
