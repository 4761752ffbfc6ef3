/** Builds the API's view of a run (domain/api.ts) from the engine's model. */
import type { JobAttemptView, JobView, RunAttemptView, RunView, StepView, TransitionView } from "../api.ts";
import type { Pipeline } from "../pipeline/types.ts";
import type { TransitionEffect } from "./effects.ts";
import { pipelineJob } from "./jobs-graph.ts";
import { type JobAttemptState, type JobState, jobStatus, latestJobAttempt, type RunAttemptState, type RunState, type StepState } from "./model.ts";

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());
const duration = (start: number | null, end: number | null, now: number): number | null =>
  start === null ? null : (end ?? now) - start;

/** History rows grouped by entity id, as the RunObject reads them from storage. */
export type HistoryIndex = Map<string, TransitionEffect[]>;

function history(index: HistoryIndex, id: string): TransitionView[] {
  return (index.get(id) ?? []).map((t) => ({ from: t.from, to: t.to, at: new Date(t.at).toISOString(), reason: t.reason }));
}

function stepView(step: StepState, now: number): StepView {
  return {
    id: step.id,
    name: step.name,
    needs: step.needs,
    status: step.status,
    exitCode: step.exitCode,
    reason: step.reason,
    outputs: step.outputs,
    metrics: step.metrics,
    startedAt: iso(step.startedAt),
    endedAt: iso(step.endedAt),
    durationMs: duration(step.startedAt, step.endedAt, now),
    attempts: step.attempts.map((a) => ({ ...a, startedAt: iso(a.startedAt), endedAt: iso(a.endedAt) })),
  };
}

function jobAttemptView(a: JobAttemptState, index: HistoryIndex, now: number): JobAttemptView {
  return {
    id: a.id,
    number: a.number,
    status: a.status,
    agent: a.agentName,
    agentId: a.agentId,
    reason: a.reason,
    message: a.message,
    retry: a.retry ?? null,
    notBefore: iso(a.notBefore ?? null),
    decidedBy: a.decidedBy ?? null,
    createdAt: iso(a.createdAt)!,
    startedAt: iso(a.startedAt),
    endedAt: iso(a.endedAt),
    durationMs: duration(a.startedAt, a.endedAt, now),
    steps: a.steps.map((s) => stepView(s, now)),
    history: history(index, a.id),
  };
}

function jobView(job: JobState, index: HistoryIndex, now: number, definition: Pipeline): JobView {
  const def = pipelineJob(definition, job.key);
  const matrix = def?.matrix ?? null;
  return {
    id: job.id,
    key: job.key,
    status: jobStatus(job),
    needs: job.needs,
    waitingOn: job.waitingOn,
    labels: job.labels,
    priority: job.priority,
    agent: latestJobAttempt(job)?.agentName ?? null,
    outputs: job.outputs,
    matrix: matrix?.values ?? null,
    matrixJob: matrix?.job ?? null,
    approval: def?.approval ?? null,
    reused: job.reused ? { attempt: job.reused.attempt, jobId: job.reused.jobId } : null,
    attempts: job.attempts.map((a) => jobAttemptView(a, index, now)),
  };
}

function attemptView(a: RunAttemptState, index: HistoryIndex, now: number, definition: Pipeline): RunAttemptView {
  return {
    id: a.id,
    number: a.number,
    status: a.status,
    failedOnly: a.failedOnly,
    rerunJobs: a.rerunJobs ?? null,
    createdAt: iso(a.createdAt)!,
    startedAt: iso(a.startedAt),
    endedAt: iso(a.endedAt),
    durationMs: duration(a.startedAt, a.endedAt, now),
    jobs: a.jobs.map((j) => jobView(j, index, now, definition)),
    history: history(index, a.id),
  };
}

export function runView(state: RunState, index: HistoryIndex, now: number): RunView {
  const { run } = state;
  return {
    id: run.id,
    number: run.number,
    project: run.project,
    pipeline: run.pipeline,
    pipelineVersionId: run.pipelineVersionId,
    branch: run.branch,
    commit: run.commit,
    trigger: run.trigger as RunView["trigger"],
    params: run.params,
    status: run.status,
    attempt: state.attempts.length,
    createdAt: iso(run.createdAt)!,
    startedAt: iso(run.startedAt),
    endedAt: iso(run.endedAt),
    durationMs: duration(run.startedAt, run.endedAt, now),
    nominalTime: iso(run.nominalTime),
    attempts: state.attempts.map((a) => attemptView(a, index, now, run.definition)),
    history: history(index, run.id),
  };
}
