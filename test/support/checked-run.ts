/**
 * A run driven through the pure engine with every invariant of DESIGN.md §3 checked after every
 * command (for the property test). It keeps what the RunObject keeps: the state, the history
 * of transitions, the dispatcher's view (what was queued, dequeued, released) and a mirror of
 * the object's storage, written with the same "only what the command touched" rule as
 * durable-objects/run-object/store.ts, so a change a command forgets to mark is caught too.
 */
import { isDeepStrictEqual } from "node:util";
import { expect } from "vitest";
import {
  type CommandResult,
  createRun,
  DEFAULT_SETTINGS,
  type Effect,
  type EngineContext,
  type JobAttemptState,
  jobStatus,
  nextDeadline,
  type RunState,
  type Touched,
  type TransitionEffect,
} from "../../domain/run-engine/index.ts";
import type { Pipeline, PipelineJob } from "../../domain/pipeline/types.ts";
import { endedNeeds, expectedWaiting, holds, liveSiblings, skipped, waitsForSuccess } from "./condition-oracle.ts";
import { canTransition, isTerminal, type State } from "../../domain/states.ts";

/** Cheap checks for the hot loop (a property test runs thousands of commands). */
export function ensure(cond: boolean, message: () => string): void {
  if (!cond) throw new Error(message());
}
function same(actual: unknown, expected: unknown, message: string): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual, message).toEqual(expected); // fails with a diff
}

const json = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** The object's rows, as store.ts writes them: one JSON document per entity. */
interface Stored {
  run: unknown;
  attempts: Map<number, Record<string, unknown>>;
  jobs: Map<string, { attempt: number; position: number; doc: Record<string, unknown> }>;
  jobAttempts: Map<string, { jobId: string; number: number; doc: JobAttemptState }>;
}

export class CheckedRun {
  state: RunState;
  now = 1_000_000;
  private ids = 0;
  /** Last recorded state of each entity (steps per step attempt). */
  private readonly last = new Map<string, State>();
  private readonly runningCount = new Map<string, number>();
  /** Job attempts handed to the dispatcher and not taken back or handed out since. */
  readonly queued = new Set<string>();
  private readonly everQueued = new Set<string>();
  /** Job attempts holding an agent's slot in the dispatcher (assigned, not yet released). */
  private readonly holding = new Set<string>();
  /** Earlier run attempts as they were when the next one was added. */
  private readonly frozen: string[] = [];
  private readonly stored: Stored = { run: null, attempts: new Map(), jobs: new Map(), jobAttempts: new Map() };
  readonly log: string[] = [];

  constructor(definition: Pipeline) {
    const result = createRun(
      {
        id: "run", number: 1, projectId: "p", project: "acme", repository: null, pipelineId: "pl",
        pipeline: definition.name, pipelineVersionId: "v1", definition, branch: "main", commit: "abc",
        trigger: "api", params: {}, nominalTime: null,
      },
      this.ctx(),
    );
    if (!result.ok) throw new Error(result.error.message);
    this.state = result.state;
    this.accept(result.effects.filter((e) => e.type === "transition"), result.effects, result.touched);
    this.checkState();
  }

  ctx(): EngineContext {
    return { now: this.now, newId: () => `id-${++this.ids}`, settings: DEFAULT_SETTINGS };
  }

  get attempt() {
    return this.state.attempts[this.state.attempts.length - 1]!;
  }

  /**
   * Runs one command against the current state and checks it: the input is never mutated; a
   * refusal is a well-formed 4xx and changes nothing; a success keeps every invariant.
   */
  exec<T>(label: string, command: (state: RunState, ctx: EngineContext) => CommandResult<T>): CommandResult<T> {
    const before = structuredClone(this.state);
    const result = command(this.state, this.ctx());
    this.log.push(`${label} → ${result.ok ? "ok" : `${result.error.status} ${result.error.code}`}`);
    // Pure: the state handed in is exactly as it was, whatever the outcome.
    same(this.state, before, `${label} mutated its input`);
    if (!result.ok) {
      const { status, code, message } = result.error;
      ensure([400, 404, 409, 410].includes(status) && /^[a-z_]+$/.test(code) && message.length > 0, () => `${label}: bad refusal ${status} ${code} ${message}`);
      return result;
    }
    // A new attempt leaves every earlier one exactly as it was before the command.
    for (let i = 0; i < before.attempts.length && result.state.attempts.length > before.attempts.length; i++) {
      same(result.state.attempts[i], before.attempts[i], `${label} changed attempt ${i + 1} while adding attempt ${result.state.attempts.length}`);
    }
    const transitions = result.effects.filter((e): e is TransitionEffect => e.type === "transition");
    this.state = result.state;
    this.accept(transitions, result.effects, result.touched);
    this.checkState();
    return result;
  }

  private entityKey(t: TransitionEffect): string {
    return t.entity === "step" ? `step:${t.id}#${t.stepAttempt ?? 0}` : `${t.entity}:${t.id}`;
  }

  private accept(transitions: TransitionEffect[], effects: Effect[], touched: Touched): void {
    for (const t of transitions) {
      const key = this.entityKey(t);
      const previous = this.last.get(key);
      if (t.from === null) {
        ensure(t.to === "CREATED", () => `${key} is born ${t.to}, not CREATED`);
        ensure(previous === undefined, () => `${key} is created twice`);
      } else {
        // Steps are not born with a record: their first move starts from CREATED.
        const expectedFrom = previous ?? (t.entity === "step" ? "CREATED" : undefined);
        ensure(t.from === expectedFrom, () => `${key}: recorded ${t.from} → ${t.to} but it was ${expectedFrom}`);
        ensure(canTransition(t.from, t.to), () => `${key}: ${t.from} → ${t.to} is not in the table`);
        ensure(!isTerminal(t.from) || (t.entity === "run" && t.to === "RESTARTED"), () => `${key} moved after ending ${t.from} (to ${t.to})`);
      }
      ensure(t.to !== "RESTARTED" || t.entity === "run", () => `${key}: only the run is RESTARTED`);
      if (t.entity === "job_attempt" && t.to === "KILLED" && (t.reason === "skipped" || t.reason === "needs_failed")) this.checkNotRun(t);
      if (t.entity === "job_attempt" && t.to === "RUNNING") {
        const n = (this.runningCount.get(t.id) ?? 0) + 1;
        ensure(n === 1, () => `job attempt ${t.id} was assigned twice`);
        this.runningCount.set(t.id, n);
        // An approval job starts when a person decides it: never queued, no agent.
        if (!this.def(t.jobKey!).approval) {
          ensure(this.queued.has(t.id), () => `job attempt ${t.id} ran without being queued`);
          this.queued.delete(t.id);
          this.holding.add(t.id);
        }
      }
      this.last.set(key, t.to);
    }
    for (const e of effects) {
      if (e.type === "enqueue") {
        const id = e.item.jobAttemptId;
        ensure(!this.everQueued.has(id), () => `job attempt ${id} queued twice`);
        this.everQueued.add(id);
        this.queued.add(id);
        const attempt = this.attempt;
        const job = attempt.jobs.find((j) => j.attempts.some((a) => a.id === id))!;
        const def = this.def(job.key);
        const waiting = expectedWaiting(this.state, attempt, def, job);
        ensure(waiting.length === 0, () => `${job.key} queued while it waits on ${waiting}`);
        // A retry was decided when its first attempt was: only a first attempt asks its condition.
        if (e.item.jobAttempt === 1) ensure(holds(this.state, attempt, def, job), () => `${job.key} queued though its condition ${def.if} is false`);
        const notBefore = job.attempts.find((a) => a.id === id)!.notBefore ?? 0;
        ensure(notBefore <= this.now, () => `${job.key} queued during its backoff`);
      } else if (e.type === "dequeue") {
        for (const id of e.jobAttemptIds) this.queued.delete(id);
      } else if (e.type === "release") {
        ensure(this.holding.delete(e.jobAttemptId), () => `released ${e.jobAttemptId}, which held no agent`);
      }
    }
    this.persist(touched);
  }

  private def(key: string): PipelineJob {
    return this.state.run.definition.jobs.find((j) => j.key === key)!;
  }

  /** A job ended without running: its needs and condition must say so (condition-oracle.ts). */
  private checkNotRun(t: TransitionEffect): void {
    const attempt = this.attempt;
    const job = attempt.jobs.find((j) => j.key === t.jobKey)!;
    const def = this.def(job.key);
    const ended = waitsForSuccess(def) ? endedNeeds(attempt, job) : [];
    if (t.reason === "needs_failed") {
      ensure(ended.some((n) => !skipped(n)), () => `${job.key} not run, but no need of it failed or was cancelled`);
      return;
    }
    const ready = expectedWaiting(this.state, attempt, def, job).filter((w) => w !== "max-parallel" && w !== "approval" && !w.startsWith("concurrency: ")).length === 0;
    const why = ended.length > 0 ? ended.every(skipped) : ready && !holds(this.state, attempt, def, job);
    ensure(why, () => `${job.key} skipped, but its needs and condition (${def.if}) do not say so\n${this.log.join("\n")}`);
  }

  /** Writes what the command touched, as store.ts does, and checks storage now equals memory. */
  private persist(touched: Touched): void {
    const { state, stored } = this;
    if (touched.run) stored.run = json(state.run);
    for (const attempt of state.attempts) {
      if (touched.attempts.has(attempt.number)) {
        const { jobs: _jobs, ...doc } = attempt;
        stored.attempts.set(attempt.number, json(doc));
      }
    }
    const current = this.attempt;
    current.jobs.forEach((job, position) => {
      if (touched.jobs.has(job.id)) {
        const { attempts: _attempts, ...doc } = job;
        stored.jobs.set(job.id, { attempt: current.number, position, doc: json(doc) });
      }
      for (const ja of job.attempts) {
        if (touched.jobAttempts.has(ja.id)) stored.jobAttempts.set(ja.id, { jobId: job.id, number: ja.number, doc: json(ja) });
      }
    });
    const attempts = [...stored.attempts.entries()].sort(([a], [b]) => a - b).map(([number, doc]) => ({
      ...doc,
      jobs: [...stored.jobs.values()]
        .filter((j) => j.attempt === number)
        .sort((a, b) => a.position - b.position)
        .map((j) => ({
          ...j.doc,
          attempts: [...stored.jobAttempts.values()].filter((a) => a.jobId === j.doc.id).sort((a, b) => a.number - b.number).map((a) => a.doc),
        })),
    }));
    same({ run: stored.run, attempts }, json(state), "a change was not marked as touched: storage differs from memory");
  }

  /** Invariants of the state itself. */
  private checkState(): void {
    const { run } = this.state;
    const attempt = this.attempt;
    this.state.attempts.forEach((a, i) => ensure(a.number === i + 1, () => `attempt ${i + 1} is numbered ${a.number}`));
    ensure(run.status === attempt.status, () => `the run is ${run.status} but its current attempt ${attempt.status}`);
    ensure(run.status === this.last.get(`run:${run.id}`), () => `the run is ${run.status}, its history says otherwise`);
    ensure(isTerminal(run.status) === (run.endedAt !== null), () => `run ${run.status} with endedAt ${run.endedAt}`);

    // Earlier attempts never change once a later one exists.
    while (this.frozen.length < this.state.attempts.length - 1) this.frozen.push(JSON.stringify(this.state.attempts[this.frozen.length]));
    this.frozen.forEach((doc, i) => ensure(JSON.stringify(this.state.attempts[i]) === doc, () => `attempt ${i + 1} changed after a later one was added`));

    for (const a of this.state.attempts) {
      ensure(a.status === this.last.get(`run_attempt:${a.id}`), () => `attempt ${a.number} is ${a.status}, its history says otherwise`);
      const over = a.jobs.every((j) => isTerminal(jobStatus(j)));
      if (isTerminal(a.status)) {
        ensure(over, () => `attempt ${a.number} ended ${a.status} with ${a.jobs.map((j) => `${j.key} ${jobStatus(j)}`).join(", ")}`);
        ensure(a.endedAt !== null, () => `attempt ${a.number} ended without an end time`);
      } else {
        ensure(!over, () => `every job of attempt ${a.number} is over but it is still ${a.status}`);
      }
      for (const job of a.jobs) {
        ensure(job.reused === null || job.attempts.length === 0, () => `${job.key} both reused and run`);
        job.attempts.forEach((ja, i) => {
          ensure(ja.number === i + 1, () => `${job.key} attempt ${i + 1} is numbered ${ja.number}`);
          ensure(ja.status === this.last.get(`job_attempt:${ja.id}`), () => `${job.key} #${ja.number} is ${ja.status}, its history says otherwise`);
          ensure(i === job.attempts.length - 1 || isTerminal(ja.status), () => `${job.key} has a new attempt while #${ja.number} is ${ja.status}`);
          // An ended job always gives its agent back, whatever ended it.
          ensure(!isTerminal(ja.status) || !this.holding.has(ja.id), () => `${job.key} #${ja.number} ended ${ja.status} but still holds its agent`);
          for (const step of ja.steps) {
            const key = `step:${ja.id}/${step.id}#${step.attempts.length}`;
            ensure(step.status === (this.last.get(key) ?? "CREATED"), () => `${key} is ${step.status}, its history says ${this.last.get(key)}`);
            step.attempts.forEach((sa, k) => {
              const recorded = this.last.get(`step:${ja.id}/${step.id}#${k + 1}`);
              ensure(sa.status === recorded, () => `${key} attempt ${k + 1} is ${sa.status}, its history says ${recorded}`);
            });
            ensure(!isTerminal(ja.status) || isTerminal(step.status), () => `${key} is ${step.status} after its job ended ${ja.status}`);
          }
        });
      }
    }

    // A concurrency claim is given back exactly when its holder has ended; a job is queued or runs only holding its groups.
    if (attempt.concurrency) {
      ensure((attempt.concurrency.status === "released") === isTerminal(attempt.status), () => `attempt ${attempt.status} with its group ${attempt.concurrency!.status}`);
    }
    for (const job of attempt.jobs) {
      const latest = job.attempts[job.attempts.length - 1];
      if (job.concurrency) ensure((job.concurrency.status === "released") === isTerminal(jobStatus(job)), () => `${job.key} ${jobStatus(job)} with its group ${job.concurrency!.status}`);
      if (!latest || latest.queuedAt === null || isTerminal(latest.status)) continue;
      ensure(!attempt.concurrency || attempt.concurrency.status === "held", () => `${job.key} queued while the run's group is ${attempt.concurrency!.status}`);
      if (this.def(job.key).concurrency) ensure(job.concurrency?.status === "held", () => `${job.key} queued while its group is ${job.concurrency?.status}`);
    }

    // A matrix never has more than max-parallel instances queued or running.
    for (const job of attempt.jobs) {
      const def = this.def(job.key);
      const latest = job.attempts[job.attempts.length - 1];
      if (def.matrix?.maxParallel == null || !latest || latest.queuedAt === null || isTerminal(latest.status)) continue;
      const live = liveSiblings(this.state, attempt, def, job) + 1;
      ensure(live <= def.matrix.maxParallel, () => `${live} instances of ${def.matrix!.job} live, max-parallel ${def.matrix!.maxParallel}`);
    }
    // Only jobs whose needs all succeeded are in the queue, and every one of them is.
    if (!isTerminal(attempt.status) && attempt.status !== "KILLING") {
      for (const job of attempt.jobs) {
        const latest = job.attempts[job.attempts.length - 1];
        if (!latest || latest.status !== "CREATED") continue;
        const def = this.def(job.key);
        const ended = waitsForSuccess(def) ? endedNeeds(attempt, job) : [];
        ensure(ended.length === 0, () => `${job.key} still waits though its need ${ended[0]?.key} can no longer succeed`);
        const waiting = expectedWaiting(this.state, attempt, def, job);
        same(job.waitingOn, waiting, `${job.key} waitingOn`);

        const queued = this.queued.has(latest.id);
        if (latest.notBefore != null && !queued && waiting.length === 0) {
          // A retry in its backoff: the clock must come back for it (the RunObject's alarm).
          const next = nextDeadline(this.state, DEFAULT_SETTINGS);
          ensure(next !== null && next <= latest.notBefore, () => `${job.key} backs off until ${latest.notBefore} but the next deadline is ${next}`);
        } else {
          ensure(queued === (waiting.length === 0), () => `${job.key}: queued must mean nothing to wait on (waiting on ${waiting})`);
        }
      }
    }
  }
}
