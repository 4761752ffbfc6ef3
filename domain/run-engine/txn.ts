/**
 * One command's working copy of a run. A command changes only the copy; the caller keeps the
 * copy (and persists what it touched) only when the whole command succeeded, so a refused
 * command is never half-applied.
 *
 * The copy is made on write, job by job: the run, the current attempt and its list of jobs are
 * copied up front (shallow: their own fields), and a job — with its attempts and steps — only
 * when the command is about to change it (`own`). A command touches one job, or a few, so its
 * cost does not grow with the size of the run (copying a 500-job attempt for every step update
 * made a wide run quadratic). The rule for engine code: change a job only through `own(job)`
 * (or `findJobAttempt`, which owns what it finds), or a job the command itself created.
 */
import { canTransition, IllegalTransitionError, type State } from "../states.ts";
import {
  type CommandResult,
  type Effect,
  type EntityKind,
  EngineRefusal,
  type TransitionEffect,
  type Touched,
} from "./effects.ts";
import { settleClaims } from "./concurrency.ts";
import type { EngineContext, JobAttemptState, JobState, RunAttemptState, RunState, StepState } from "./model.ts";

export class Txn {
  readonly state: RunState;
  readonly effects: Effect[] = [];
  readonly touched: Touched = { run: false, attempts: new Set(), jobs: new Set(), jobAttempts: new Set() };

  /** The caller's current attempt, copied shallowly: its jobs are the caller's until owned. */
  private readonly working: RunAttemptState | undefined;
  /** Shared job → this command's copy of it; and the copies themselves. */
  private readonly copies = new Map<JobState, JobState>();
  private readonly owned = new Set<JobState>();

  readonly ctx: EngineContext;

  constructor(original: RunState, ctx: EngineContext) {
    this.ctx = ctx;
    // Earlier attempts never change once a later one exists: they are shared as they are.
    const attempts = original.attempts.slice();
    const last = attempts.length - 1;
    if (last >= 0) attempts[last] = { ...attempts[last]!, jobs: attempts[last]!.jobs.slice() };
    this.working = attempts[last];
    this.state = { run: { ...original.run }, attempts };
  }

  /**
   * This command's own copy of a job of the current attempt (with its attempts and steps), to
   * change freely; it replaces the shared job in the working copy. A job the command created,
   * or already owns, is returned as it is.
   */
  own(job: JobState): JobState {
    if (this.owned.has(job)) return job;
    const copy = this.copies.get(job);
    if (copy) return copy;
    // The jobs of an attempt this command opened (a new run, a re-run) are its own already.
    if (this.attempt !== this.working) return job;
    const jobs = this.attempt.jobs;
    const index = jobs.indexOf(job);
    if (index < 0) throw new Error(`job ${job.key} is not part of the current attempt`);
    const owned = structuredClone(job);
    jobs[index] = owned;
    this.copies.set(job, owned);
    this.owned.add(owned);
    return owned;
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

  /** A job attempt of the current attempt and its job, both this command's own (see `own`). */
  findJobAttempt(jobAttemptId: string): { job: JobState; jobAttempt: JobAttemptState } | undefined {
    for (const job of this.attempt.jobs) {
      const index = job.attempts.findIndex((a) => a.id === jobAttemptId);
      if (index < 0) continue;
      const owned = this.own(job);
      return { job: owned, jobAttempt: owned.attempts[index]! };
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
    // Only the run is ever RESTARTED (docs/state-machine.md, "Who has a state").
    if (to === "RESTARTED" && info.entity !== "run") throw new IllegalTransitionError(`${info.entity} ${info.id}`, from, to);
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
    settleClaims(this); // whatever ended a group's holder, the group is given back (concurrency.ts)
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
