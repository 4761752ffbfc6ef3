/**
 * The jobs of a run attempt as a graph: what a job waits on, which jobs are ready to queue,
 * which ones can no longer run, and when the attempt is over.
 */
import { isTerminal, summarize } from "../states.ts";
import type { Pipeline, PipelineJob } from "../pipeline/types.ts";
import { waitedGroup } from "../pipeline/concurrency.ts";
import { groupWaitOf, SUPERSEDED } from "./concurrency.ts"; // a cycle of functions only, called after both load
import { decideJob } from "./job-conditions.ts";
import { AWAITING_APPROVAL, isSkipped, type JobAttemptState, type JobState, jobQueue, jobStatus, latestJobAttempt, type StepState } from "./model.ts";
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

/** What a matrix instance waits on while `max-parallel` of its siblings are queued or running. */
export const MAX_PARALLEL = "max-parallel";

/** Whether `def`'s matrix has `max-parallel` instances queued or running already. */
function atMaxParallel(txn: Txn, def: PipelineJob, byKey: ReadonlyMap<string, JobState>): boolean {
  const limit = def.matrix?.maxParallel;
  if (!limit) return false;
  let live = 0;
  for (const other of byKey.values()) {
    if (pipelineJob(txn.state.run.definition, other.key)?.matrix?.job !== def.matrix!.job) continue;
    const latest = latestJobAttempt(other);
    if (latest && latest.queuedAt !== null && !isTerminal(latest.status)) live++;
  }
  return live >= limit;
}

/**
 * Moves on every job that has not started: queues the ones whose needs and condition allow it,
 * ends KILLED the ones that can no longer run (`needs_failed`, "Not run") or whose condition
 * is false (`skipped`), and keeps `waitingOn` current for the others (job-conditions.ts). Ending
 * one job may decide the jobs that need it, so it goes round until nothing changes.
 */
export function enqueueReadyJobs(txn: Txn): void {
  const attempt = txn.attempt;
  if (attempt.status === "KILLING" || isTerminal(attempt.status)) return;
  // The jobs as this command sees them: a job owned below replaces the shared one.
  const byKey = new Map(attempt.jobs.map((j) => [j.key, j]));
  for (let changed = true; changed; ) {
    changed = false;
    for (const shared of [...byKey.values()]) {
      const sharedLatest = latestJobAttempt(shared);
      if (!sharedLatest || sharedLatest.status !== "CREATED" || sharedLatest.queuedAt !== null) continue;
      const def = jobDefinition(txn, shared.key);
      let decision = decideJob(txn.state, attempt, def, shared, byKey);
      if (decision.kind === "run" && atMaxParallel(txn, def, byKey)) decision = { kind: "wait", waitingOn: [MAX_PARALLEL] };
      const group = decision.kind === "run" ? groupWaitOf(txn, def, shared) : null;
      if (group) decision = { kind: "wait", waitingOn: group };
      // An approval job is never queued: it waits for a person (approvals.ts).
      const awaiting = decision.kind === "run" && def.approval !== undefined;
      if (awaiting) decision = { kind: "wait", waitingOn: [AWAITING_APPROVAL] };
      const waitingOn = decision.kind === "wait" ? decision.waitingOn : [];
      const rewait = waitingOn.join() !== shared.waitingOn.join();
      const backingOff = (sharedLatest.notBefore ?? 0) > txn.now;
      if (!rewait && (decision.kind === "wait" || (decision.kind === "run" && backingOff))) continue;
      const job = txn.own(shared);
      byKey.set(job.key, job);
      const latest = latestJobAttempt(job)!;
      if (rewait) {
        const [before, after] = [waitedGroup(job.waitingOn), waitedGroup(waitingOn)];
        if (before !== after) txn.effects.push({ type: "awaitingGroup", jobAttemptId: latest.id, group: after });
        job.waitingOn = waitingOn;
        txn.touchJob(job);
      }
      if (awaiting && latest.awaitingSince == null) {
        latest.awaitingSince = txn.now;
        txn.touchJobAttempt(latest);
        txn.effects.push({ type: "awaitingApproval", jobAttemptId: latest.id });
      }
      if (decision.kind === "end") {
        txn.moveJobAttempt(job, latest, "KILLED", decision.reason);
        latest.endedAt = txn.now;
        for (const step of latest.steps) killStepNotRun(txn, job, latest, step, decision.reason);
        changed = true;
        continue;
      }
      // A retry waiting out its backoff is queued by the tick at `notBefore` (tick.ts).
      if (decision.kind === "wait" || backingOff) continue;
      latest.queuedAt = txn.now;
      txn.touchJobAttempt(latest);
      // Its matrix may be full now: its siblings' waitingOn must say so (another round).
      if (def.matrix?.maxParallel) changed = true;
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
          queue: jobQueue(job),
          priority: job.priority,
          readyAt: txn.now,
        },
      });
    }
  }
}

/** The jobs of an attempt as graph nodes (their keys and needs), for domain/pipeline/graph.ts. */
export const jobNodes = (jobs: readonly JobState[]) => jobs.map((j) => ({ id: j.key, needs: j.needs }));

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
  // A skipped job (its condition was false) neither fails nor cancels its run.
  const counted = attempt.jobs.map((job, i) => (isSkipped(job) ? "SUCCESS" : statuses[i]!));
  const outcome = attempt.status === "KILLING" ? "KILLED" : summarize(counted);
  // A run cancelled by a newer one of its concurrency group ends saying so (lineage: ABORT, superseded).
  const reason = outcome === "KILLED" && attempt.concurrency?.supersededBy ? SUPERSEDED : undefined;
  if (attempt.status === "CREATED" && outcome !== "KILLED") txn.moveAttempt("RUNNING");
  attempt.endedAt = txn.now;
  txn.moveAttempt(outcome, reason);
  if (txn.state.run.status === "CREATED" && outcome !== "KILLED") txn.moveRun("RUNNING");
  txn.state.run.endedAt = txn.now;
  txn.moveRun(outcome, reason);
}
