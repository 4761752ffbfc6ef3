/**
 * The jobs of a run attempt as a graph: what a job waits on, which jobs are ready to queue,
 * which ones can no longer run, and when the attempt is over.
 */
import { downstreamOf } from "../pipeline/graph.ts";
import { isTerminal, summarize, type State } from "../states.ts";
import type { Pipeline, PipelineJob } from "../pipeline/types.ts";
import { type JobAttemptState, type JobState, jobQueue, jobStatus, latestJobAttempt, type StepState } from "./model.ts";
import type { Txn } from "./txn.ts";

/** Each pipeline's jobs by key, built once per definition (a run keeps its definition). */
const jobsByKey = new WeakMap<Pipeline, Map<string, PipelineJob>>();

/** The definition of job `key`, without a scan of the pipeline's jobs (a command may ask per job). */
export function pipelineJob(definition: Pipeline, key: string): PipelineJob | undefined {
  let index = jobsByKey.get(definition);
  if (!index) {
    index = new Map(definition.jobs.map((j) => [j.key, j]));
    jobsByKey.set(definition, index);
  }
  return index.get(key);
}

export function jobDefinition(txn: Txn, key: string): PipelineJob {
  const def = pipelineJob(txn.state.run.definition, key);
  if (!def) throw new Error(`job ${key} is not in the pipeline definition`);
  return def;
}

const SUCCEEDED: readonly State[] = ["SUCCESS", "WARNING"];

export function newSteps(def: PipelineJob): StepState[] {
  return def.steps.map((s) => ({
    id: s.id,
    name: s.name,
    needs: s.needs,
    status: "CREATED",
    exitCode: null,
    reason: null,
    outputs: {},
    metrics: [],
    startedAt: null,
    endedAt: null,
    attempts: [],
  }));
}

/** Adds a fresh CREATED job attempt to `job` (the command's own, see Txn.own). */
export function addJobAttempt(txn: Txn, job: JobState): JobAttemptState {
  const def = jobDefinition(txn, job.key);
  const jobAttempt: JobAttemptState = {
    id: txn.ctx.newId(),
    number: job.attempts.length + 1,
    status: "CREATED",
    agentId: null,
    agentName: null,
    reason: null,
    message: null,
    createdAt: txn.now,
    startedAt: null,
    endedAt: null,
    queuedAt: null,
    killingSince: null,
    lastHeartbeatAt: null,
    tokenHash: null,
    steps: newSteps(def),
  };
  job.attempts.push(jobAttempt);
  txn.created("job_attempt", jobAttempt.id, { jobKey: job.key, jobAttemptId: jobAttempt.id });
  txn.touchJob(job);
  txn.touchJobAttempt(jobAttempt);
  return jobAttempt;
}

/** Queues every job whose needs have all succeeded and whose latest attempt is CREATED. */
export function enqueueReadyJobs(txn: Txn): void {
  const attempt = txn.attempt;
  if (attempt.status === "KILLING" || isTerminal(attempt.status)) return;
  // Positions, not jobs: a job owned below is replaced in `attempt.jobs`.
  const byKey = new Map(attempt.jobs.map((j, i) => [j.key, i]));
  for (const shared of attempt.jobs) {
    const sharedLatest = latestJobAttempt(shared);
    if (!sharedLatest || sharedLatest.status !== "CREATED") continue;
    const waitingOn = shared.needs.filter((need) => !SUCCEEDED.includes(jobStatus(attempt.jobs[byKey.get(need)!]!)));
    const rewait = waitingOn.join() !== shared.waitingOn.join();
    const enqueue = waitingOn.length === 0 && sharedLatest.queuedAt === null;
    if (!rewait && !enqueue) continue;
    const job = txn.own(shared);
    const latest = latestJobAttempt(job)!;
    if (rewait) {
      job.waitingOn = waitingOn;
      txn.touchJob(job);
    }
    if (!enqueue) continue;
    latest.queuedAt = txn.now;
    txn.touchJobAttempt(latest);
    txn.effects.push({
      type: "enqueue",
      item: {
        jobAttemptId: latest.id,
        runId: txn.state.run.id,
        runNumber: txn.state.run.number,
        project: txn.state.run.project,
        pipeline: txn.state.run.pipeline,
        jobKey: job.key,
        runAttempt: attempt.number,
        jobAttempt: latest.number,
        labels: job.labels,
        priority: job.priority,
        readyAt: txn.now,
        queue: jobQueue(job),
      },
    });
  }
}

/** The jobs of an attempt as graph nodes (their keys and needs), for domain/pipeline/graph.ts. */
export const jobNodes = (jobs: readonly JobState[]) => jobs.map((j) => ({ id: j.key, needs: j.needs }));

/** Marks every still-CREATED job that (transitively) needs `failedKey` as not run. */
export function killDependants(txn: Txn, failedKey: string): void {
  const attempt = txn.attempt;
  const blocked = new Set(downstreamOf(jobNodes(attempt.jobs), [failedKey]));
  blocked.delete(failedKey);
  for (const shared of attempt.jobs) {
    const sharedLatest = latestJobAttempt(shared);
    if (!blocked.has(shared.key) || !sharedLatest || sharedLatest.status !== "CREATED") continue;
    const job = txn.own(shared);
    const latest = latestJobAttempt(job)!;
    txn.moveJobAttempt(job, latest, "KILLED", "needs_failed");
    latest.endedAt = txn.now;
    for (const step of latest.steps) killStepNotRun(txn, job, latest, step, "needs_failed");
  }
}

/** A step that never started ends KILLED with a reason ("Not run"). */
export function killStepNotRun(txn: Txn, job: JobState, jobAttempt: JobAttemptState, step: StepState, reason: string): void {
  if (isTerminal(step.status)) return;
  txn.moveStep(job, jobAttempt, step, "KILLED", step.attempts.length || undefined, reason);
  step.reason = reason;
  step.endedAt ??= txn.now;
  const last = step.attempts[step.attempts.length - 1];
  if (last && !isTerminal(last.status)) {
    last.status = "KILLED";
    last.reason = reason;
    last.endedAt = txn.now;
  }
}

/** Ends the run attempt (and the run) once every job is over. */
export function finishAttemptIfDone(txn: Txn): void {
  const attempt = txn.attempt;
  if (isTerminal(attempt.status)) return;
  const statuses = attempt.jobs.map(jobStatus);
  if (!statuses.every(isTerminal)) return;
  const outcome = attempt.status === "KILLING" ? "KILLED" : summarize(statuses);
  if (attempt.status === "CREATED" && outcome !== "KILLED") txn.moveAttempt("RUNNING");
  attempt.endedAt = txn.now;
  txn.moveAttempt(outcome);
  if (txn.state.run.status === "CREATED" && outcome !== "KILLED") txn.moveRun("RUNNING");
  txn.state.run.endedAt = txn.now;
  txn.moveRun(outcome);
}
