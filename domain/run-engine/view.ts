/** Builds the API's view of a run (domain/views.ts) from the engine's model. */
import type { JobAttemptView, JobView, RunAttemptView, RunView, StepView, TransitionView } from "../views.ts";
import type { Pipeline } from "../pipeline/types.ts";
import type { TransitionEffect } from "./effects.ts";
import { pipelineJob } from "./jobs-graph.ts";
import { groupWait } from "../pipeline/concurrency.ts";
import { type ConcurrencyClaim, type JobAttemptState, type JobState, jobQueue, jobStatus, latestJobAttempt, type RunAttemptState, type RunState, type StepState } from "./model.ts";
import { isoTime } from "../time.ts";


/**
 * The time a view is built at, and whether it was read: a view that never read it (nothing in
 * it runs) stays the same until the run changes, so its reader may keep it (`timedRunView`).
 */
interface Clock {
  readonly now: number;
  read: boolean;
}

/** When a thing started and ended, and how long it has run (until `now` while it runs). */
function span(startedAt: number | null, endedAt: number | null, clock: Clock) {
  if (startedAt !== null && endedAt == null) clock.read = true;
  return {
    startedAt: isoTime(startedAt),
    endedAt: isoTime(endedAt),
    durationMs: startedAt === null ? null : (endedAt ?? clock.now) - startedAt,
  };
}

/** The same, after when it was created: every view but a step's shows all four. */
const lifetime = (t: { createdAt: number; startedAt: number | null; endedAt: number | null }, clock: Clock) => ({
  createdAt: isoTime(t.createdAt)!,
  ...span(t.startedAt, t.endedAt, clock),
});

/** History rows grouped by entity id, as the RunObject reads them from storage. */
export type HistoryIndex = Map<string, TransitionEffect[]>;

function history(index: HistoryIndex, id: string): TransitionView[] {
  return (index.get(id) ?? []).map((t) => ({ from: t.from, to: t.to, at: isoTime(t.at), reason: t.reason }));
}

function stepView(step: StepState, clock: Clock): StepView {
  return {
    id: step.id,
    name: step.name,
    needs: step.needs,
    status: step.status,
    exitCode: step.exitCode,
    reason: step.reason,
    outputs: step.outputs,
    metrics: step.metrics,
    ...span(step.startedAt, step.endedAt, clock),
    attempts: step.attempts.map((a) => ({ ...a, startedAt: isoTime(a.startedAt), endedAt: isoTime(a.endedAt) })),
  };
}

/** Which attempt, a run's or a job's, and where it stands: the first fields of both views. */
const attemptOf = (a: RunAttemptState | JobAttemptState) => ({ id: a.id, number: a.number, status: a.status });

function jobAttemptView(a: JobAttemptState, index: HistoryIndex, clock: Clock): JobAttemptView {
  return {
    ...attemptOf(a),
    agent: a.agentName,
    agentId: a.agentId,
    reason: a.reason,
    message: a.message,
    retry: a.retry ?? null,
    notBefore: isoTime(a.notBefore ?? null),
    decidedBy: a.decidedBy ?? null,
    ...lifetime(a, clock),
    steps: a.steps.map((s) => stepView(s, clock)),
    history: history(index, a.id),
  };
}

const claimView = (c: ConcurrencyClaim | undefined) => (c ? { group: c.group, cancelInProgress: c.cancelInProgress, status: c.status, supersededBy: c.supersededBy ?? null } : null);

function jobView(job: JobState, index: HistoryIndex, clock: Clock, definition: Pipeline): JobView {
  const def = pipelineJob(definition, job.key);
  const matrix = def?.matrix ?? null;
  return {
    id: job.id,
    key: job.key,
    status: jobStatus(job),
    needs: job.needs,
    waitingOn: job.waitingOn,
    labels: job.labels,
    queue: jobQueue(job),
    priority: job.priority,
    agent: latestJobAttempt(job)?.agentName ?? null,
    outputs: job.outputs,
    matrix: matrix?.values ?? null,
    matrixJob: matrix?.job ?? null,
    approval: def?.approval ?? null,
    reused: job.reused ? { attempt: job.reused.attempt, jobId: job.reused.jobId } : null,
    concurrency: claimView(job.concurrency),
    attempts: job.attempts.map((a) => jobAttemptView(a, index, clock)),
  };
}

function attemptView(a: RunAttemptState, index: HistoryIndex, clock: Clock, definition: Pipeline): RunAttemptView {
  return {
    ...attemptOf(a),
    failedOnly: a.failedOnly,
    rerunJobs: a.rerunJobs ?? null,
    waitingOn: a.concurrency?.status === "waiting" ? [groupWait(a.concurrency.group)] : [],
    concurrency: claimView(a.concurrency),
    ...lifetime(a, clock),
    jobs: a.jobs.map((j) => jobView(j, index, clock, definition)),
    history: history(index, a.id),
  };
}

export function runView(state: RunState, index: HistoryIndex, now: number): RunView {
  return timedRunView(state, index, now).view;
}

/**
 * The run's view at `now`, and whether `now` went into it (a duration of something still
 * running): when it did not, the same state and history give the same view at any time.
 */
export function timedRunView(state: RunState, index: HistoryIndex, now: number): { view: RunView; readsNow: boolean } {
  const clock: Clock = { now, read: false };
  const { run } = state;
  const view: RunView = {
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
    ...lifetime(run, clock),
    nominalTime: isoTime(run.nominalTime),
    attempts: state.attempts.map((a) => attemptView(a, index, clock, run.definition)),
    history: history(index, run.id),
  };
  return { view, readsNow: clock.read };
}
