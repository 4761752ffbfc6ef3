/**
 * `yardmaster-agent pipeline upload`: a running job adds jobs to its run attempt. The new jobs
 * join the run's definition (so views, the graph, the queue, live feeds, lineage and re-runs
 * treat them like any other job) and the current attempt's jobs. They may `needs` jobs already
 * in the run, the uploading one included; their keys may not collide with the run's jobs.
 *
 * Uploading again what the same job uploaded before is a no-op: an agent's retry after a lost
 * answer, or the bootstrap job of a re-run uploading the jobs its first attempt added (the
 * re-run already holds them, from the definition).
 */
import { isTerminal } from "../states.ts";
import { type ParseOptions, parsePipeline } from "../pipeline/parse.ts";
import { PIPELINE_DEFAULTS, type ParseResult, type Pipeline, type PipelineJob } from "../pipeline/types.ts";
import { newJob } from "./create.ts";
import { refuse } from "./effects.ts";
import { addJobAttempt, enqueueReadyJobs, finishAttemptIfDone } from "./jobs-graph.ts";
import { latestJobAttempt, type RunState, type UploadRecord } from "./model.ts";
import type { Txn } from "./txn.ts";

/** An upload from a job that an upload added is one level deeper; past this it is refused. */
export const MAX_UPLOAD_DEPTH = 5;
/** A run holds at most this many jobs, uploads included (a stored pipeline's own limit). */
export const MAX_RUN_JOBS = PIPELINE_DEFAULTS.maxJobs;

/**
 * Parses an uploaded file as a stored pipeline is, with the run's jobs available to `needs`;
 * `queueRefusal` (from the queue registry) refuses queues the run's project may not use.
 */
export function parseUpload(state: RunState, text: string, queueRefusal?: ParseOptions["queueRefusal"]): ParseResult {
  const existingJobs = Object.fromEntries(state.run.definition.jobs.map((j) => [j.key, Object.keys(j.outputs)]));
  return parsePipeline(text, { name: state.run.pipeline, existingJobs, ...(queueRefusal ? { queueRefusal } : {}) });
}

export interface AppendJobsInput {
  /** The uploading job attempt (its token was checked by the caller). */
  jobAttemptId: string;
  pipeline: Pipeline;
}

export interface AppendJobsResult {
  /** Keys of the jobs added now. */
  added: string[];
  /** Keys already added by an identical earlier upload of the same job (nothing changed). */
  unchanged: string[];
}

export function appendJobs(txn: Txn, input: AppendJobsInput): AppendJobsResult {
  const attempt = txn.attempt;
  const uploader = attempt.jobs.find((j) => j.attempts.some((a) => a.id === input.jobAttemptId));
  const uploaderAttempt = uploader && latestJobAttempt(uploader);
  if (!uploader || uploaderAttempt?.id !== input.jobAttemptId || uploaderAttempt.status !== "RUNNING") {
    refuse(409, "job_not_running", "only a running job of the run's current attempt can upload jobs");
  }
  if (attempt.status === "KILLING" || isTerminal(attempt.status)) {
    refuse(409, "run_not_running", `run #${txn.state.run.number} is ${attempt.status}; no jobs can be added`);
  }
  const run = txn.state.run;
  const uploads = run.uploads ?? [];
  // The uploaded file's top-level env is its jobs' (the run's own env still comes first).
  const incoming: PipelineJob[] = input.pipeline.jobs.map((j) => ({ ...j, env: { ...input.pipeline.env, ...j.env } }));
  const keys = incoming.map((j) => j.key);
  const existing = new Map(run.definition.jobs.map((j) => [j.key, j]));
  const taken = keys.filter((k) => existing.has(k));
  if (taken.length > 0) {
    const mine = new Set(uploads.filter((u) => u.by === uploader.key).flatMap((u) => u.jobs));
    const same = taken.length === keys.length && incoming.every((j) => mine.has(j.key) && sameJob(existing.get(j.key)!, j));
    if (same) return { added: [], unchanged: keys };
    refuse(409, "job_keys_taken", `the run already has job${taken.length > 1 ? "s" : ""} ${taken.map((k) => `"${k}"`).join(", ")}; give the uploaded jobs other keys`, {
      jobs: taken,
    });
  }
  const depth = (uploads.find((u) => u.jobs.includes(uploader.key))?.depth ?? 0) + 1;
  if (depth > MAX_UPLOAD_DEPTH) {
    refuse(409, "upload_too_deep", `jobs uploaded by uploaded jobs nest ${depth} deep; the limit is ${MAX_UPLOAD_DEPTH}`);
  }
  const total = run.definition.jobs.length + incoming.length;
  if (total > MAX_RUN_JOBS) {
    refuse(409, "too_many_jobs", `the run would hold ${total} jobs; the limit is ${MAX_RUN_JOBS} per run, uploads included`);
  }

  // Params the uploaded file declares and the run does not: their defaults apply.
  const params = { ...input.pipeline.params, ...run.definition.params };
  const definition = { ...run.definition, params, jobs: [...run.definition.jobs, ...incoming] };
  // The run keeps its definition in one storage row: uploads together stay within a stored pipeline's bound.
  const bytes = new TextEncoder().encode(JSON.stringify(definition)).byteLength;
  if (bytes > PIPELINE_DEFAULTS.maxDefinitionBytes) {
    refuse(409, "run_definition_too_large", `the run's pipeline with these jobs would be ${bytes} bytes normalised; the limit is ${PIPELINE_DEFAULTS.maxDefinitionBytes}, uploads included`);
  }
  run.definition = definition;
  run.uploads = [...uploads, { by: uploader.key, depth, jobs: keys }];
  txn.touchRun();

  for (const def of incoming) {
    const job = newJob(txn, def);
    attempt.jobs.push(job);
    txn.touchJob(job);
    addJobAttempt(txn, job);
  }
  // Queues the new jobs whose needs are met, and ends those that can no longer run (a need
  // that already failed: `needs_failed`) or whose condition is false (`skipped`).
  enqueueReadyJobs(txn);
  finishAttemptIfDone(txn);
  return { added: keys, unchanged: [] };
}

function sameJob(a: PipelineJob, b: PipelineJob): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export type { UploadRecord };
