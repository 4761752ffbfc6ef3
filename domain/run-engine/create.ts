/** Creating a run, and building the jobs of a new run attempt. */
import type { PipelineJob } from "../pipeline/types.ts";
import type { CommandResult } from "./effects.ts";
import { claimRunGroup } from "./concurrency.ts";
import { addJobAttempt, enqueueReadyJobs, finishAttemptIfDone } from "./jobs-graph.ts";
import { type EngineContext, type JobState, jobReason, type RunAttemptState, type RunInfo, type RunState } from "./model.ts";
import { Txn } from "./txn.ts";

/** What starting a run takes: the run's facts; the engine adds its status and times. */
export type CreateRunInput = Omit<RunInfo, "createdAt" | "status" | "startedAt" | "endedAt"> & {
  /**
   * The project secrets the pipeline references, name → value encrypted at rest (never
   * plaintext). The RunObject keeps them apart from the run's state; they are not part of it.
   */
  secrets?: Record<string, string>;
};

export function createRun(input: CreateRunInput, ctx: EngineContext): CommandResult<RunState> {
  const { secrets: _secrets, ...info } = input; // never part of the run's state or views
  const run: RunInfo = { ...info, createdAt: ctx.now, status: "CREATED", startedAt: null, endedAt: null };
  const txn = new Txn({ run, attempts: [] }, ctx);
  txn.created("run", run.id, { runAttempt: 1 });
  txn.touchRun();
  openAttempt(txn, false, () => true);
  enqueueReadyJobs(txn);
  finishAttemptIfDone(txn); // every job skipped by its condition
  return txn.result(txn.state);
}

/**
 * Adds run attempt N+1 with every job of the pipeline. `rerun(key)` says whether a job runs
 * again; a job that does not keeps its result and outputs from the previous attempt. The
 * caller queues the ready jobs once the run is CREATED (some may end at once, skipped).
 */
export function openAttempt(txn: Txn, failedOnly: boolean, rerun: (key: string) => boolean): RunAttemptState {
  const previous = txn.state.attempts[txn.state.attempts.length - 1];
  const attempt: RunAttemptState = {
    id: txn.ctx.newId(),
    number: txn.state.attempts.length + 1,
    status: "CREATED",
    failedOnly,
    createdAt: txn.now,
    startedAt: null,
    endedAt: null,
    jobs: [],
  };
  txn.state.attempts.push(attempt);
  txn.created("run_attempt", attempt.id);
  txn.touchAttempt(attempt);
  claimRunGroup(txn, attempt);

  for (const def of txn.state.run.definition.jobs) {
    const job = newJob(txn, def);
    attempt.jobs.push(job);
    txn.touchJob(job);
    const earlier = previous?.jobs.find((j) => j.key === def.key);
    if (earlier && !rerun(def.key)) {
      const status = earlier.reused?.status ?? earlier.attempts[earlier.attempts.length - 1]!.status;
      const reason = jobReason(earlier);
      job.reused = { attempt: earlier.reused?.attempt ?? previous!.number, jobId: earlier.reused?.jobId ?? earlier.id, status, reason };
      job.outputs = { ...earlier.outputs };
      job.waitingOn = [];
      continue;
    }
    addJobAttempt(txn, job);
  }
  return attempt;
}

/** A job of the current attempt for `def`, with no attempt yet (a new attempt's, or an uploaded one's). */
export function newJob(txn: Txn, def: PipelineJob): JobState {
  return {
    id: txn.ctx.newId(),
    key: def.key,
    needs: def.needs,
    labels: def.runsOn,
    priority: def.priority,
    queue: def.queue,
    waitingOn: def.needs.slice(),
    outputs: {},
    reused: null,
    attempts: [],
  };
}
