/**
 * One command's working copy of a run. A command changes only the copy; the caller keeps the
 * copy (and persists what it touched) only when the whole command succeeded, so a refused
 * command is never half-applied.
 */
import { canTransition, IllegalTransitionError, type State } from "../states";
import {
  type CommandResult,
  type Effect,
  type EntityKind,
  EngineRefusal,
  type TransitionEffect,
  type Touched,
} from "./effects";
import type { EngineContext, JobAttemptState, JobState, RunAttemptState, RunState, StepState } from "./model";

export class Txn {
  readonly state: RunState;
  readonly effects: Effect[] = [];
  readonly touched: Touched = { run: false, attempts: new Set(), jobs: new Set(), jobAttempts: new Set() };

  constructor(
    original: RunState,
    readonly ctx: EngineContext,
  ) {
    // Earlier attempts never change once a later one exists, so only the current one is copied.
    const attempts = original.attempts.slice();
    const last = attempts.length - 1;
    if (last >= 0) attempts[last] = structuredClone(attempts[last]!);
    this.state = { run: { ...original.run }, attempts };
  }

  get now(): number {
    return this.ctx.now;
  }

  /** The current run attempt's number (1 while the first is being created). */
  get attemptNumber(): number {
    return Math.max(1, this.state.attempts.length);
  }

  get attempt(): RunAttemptState {
    return this.state.attempts[this.state.attempts.length - 1]!;
  }

  findJobAttempt(jobAttemptId: string): { job: JobState; jobAttempt: JobAttemptState } | undefined {
    for (const job of this.attempt.jobs) {
      const jobAttempt = job.attempts.find((a) => a.id === jobAttemptId);
      if (jobAttempt) return { job, jobAttempt };
    }
    return undefined;
  }

  touchRun(): void {
    this.touched.run = true;
  }
  touchAttempt(attempt: RunAttemptState): void {
    this.touched.attempts.add(attempt.number);
  }
  touchJob(job: JobState): void {
    this.touched.jobs.add(job.id);
  }
  touchJobAttempt(jobAttempt: JobAttemptState): void {
    this.touched.jobAttempts.add(jobAttempt.id);
  }

  /**
   * Moves an entity to `to` by the transition table, recording each step. A move to KILLED
   * from RUNNING or RESTARTED passes through KILLING, as the table requires.
   */
  move(
    target: { status: State },
    to: State,
    info: Omit<TransitionEffect, "type" | "from" | "to" | "at" | "reason" | "runAttempt"> & { reason?: string | null },
  ): void {
    const from = target.status;
    if (from === to) return;
    if (!canTransition(from, to) && to === "KILLED" && canTransition(from, "KILLING")) {
      this.move(target, "KILLING", info);
      return this.move(target, to, info);
    }
    if (!canTransition(from, to)) throw new IllegalTransitionError(`${info.entity} ${info.id}`, from, to);
    target.status = to;
    this.effects.push({
      type: "transition",
      entity: info.entity,
      id: info.id,
      from,
      to,
      at: this.now,
      reason: info.reason ?? null,
      runAttempt: this.attemptNumber,
      ...(info.jobKey === undefined ? {} : { jobKey: info.jobKey }),
      ...(info.jobAttemptId === undefined ? {} : { jobAttemptId: info.jobAttemptId }),
      ...(info.stepId === undefined ? {} : { stepId: info.stepId }),
      ...(info.stepAttempt === undefined ? {} : { stepAttempt: info.stepAttempt }),
    });
  }

  /** Records the first appearance of an entity (its CREATED state) in the history. */
  created(entity: EntityKind, id: string, extra: Partial<TransitionEffect> = {}): void {
    this.effects.push({
      type: "transition",
      entity,
      id,
      from: null,
      to: "CREATED",
      at: this.now,
      reason: null,
      runAttempt: this.attemptNumber,
      ...extra,
    });
  }

  moveRun(to: State, reason?: string): void {
    this.move(this.state.run, to, { entity: "run", id: this.state.run.id, reason: reason ?? null });
    if (to !== "RESTARTED" && to !== "CREATED") {
      if (to === "RUNNING" && this.state.run.startedAt === null) this.state.run.startedAt = this.now;
    }
    this.touchRun();
  }

  moveAttempt(to: State, reason?: string): void {
    const attempt = this.attempt;
    this.move(attempt, to, { entity: "run_attempt", id: attempt.id, reason: reason ?? null });
    if (to === "RUNNING" && attempt.startedAt === null) attempt.startedAt = this.now;
    this.touchAttempt(attempt);
  }

  moveJobAttempt(job: JobState, jobAttempt: JobAttemptState, to: State, reason?: string | null): void {
    this.move(jobAttempt, to, {
      entity: "job_attempt",
      id: jobAttempt.id,
      jobKey: job.key,
      jobAttemptId: jobAttempt.id,
      reason: reason ?? null,
    });
    if (reason) jobAttempt.reason = reason;
    this.touchJobAttempt(jobAttempt);
    this.touchJob(job);
  }

  moveStep(job: JobState, jobAttempt: JobAttemptState, step: StepState, to: State, stepAttempt?: number, reason?: string | null): void {
    this.move(step, to, {
      entity: "step",
      id: `${jobAttempt.id}/${step.id}`,
      jobKey: job.key,
      jobAttemptId: jobAttempt.id,
      stepId: step.id,
      ...(stepAttempt === undefined ? {} : { stepAttempt }),
      reason: reason ?? null,
    });
    this.touchJobAttempt(jobAttempt);
  }

  result<T>(value: T): CommandResult<T> {
    return { ok: true, value, state: this.state, effects: this.effects, touched: this.touched };
  }
}

/** Runs a command on a working copy; refusals and illegal transitions become errors, not throws. */
export function runCommand<T>(
  state: RunState,
  ctx: EngineContext,
  command: (txn: Txn) => T,
): CommandResult<T> {
  const txn = new Txn(state, ctx);
  try {
    return txn.result(command(txn));
  } catch (error) {
    if (error instanceof EngineRefusal) return { ok: false, error: error.error };
    if (error instanceof IllegalTransitionError) {
      return { ok: false, error: { status: 409, code: "illegal_transition", message: error.message } };
    }
    throw error;
  }
}
