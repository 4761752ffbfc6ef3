/**
 * The run's two own outboxes (docs/architecture.md "Outboxes, not hopes"): its projection into
 * D1 (./d1-projection.ts) and its calls to the dispatchers (./dispatch-outbox.ts). Each flushes
 * one at a time (SerialFlush), records a failure with backoff (OutboxStatus), and is retried
 * from the object's alarm, which asks `nextAlarmAt` when it is due.
 *
 * When (issue 20): a command answers first — its D1 flush starts in a later task, never before
 * its reply (its dispatcher calls are sent, not awaited, ahead of it, as they always were). The
 * D1 projection is coalesced: one batch per run `projectionTiming.delayMs` after the first dirty
 * mark (from the alarm), and one at once whenever a job attempt or the run ends. A command
 * that ended the run awaits it and its dispatcher calls (`projected()`), so a listing shows the
 * finished run, and the queue its freed agent, as soon as that command has answered; so does a
 * person's command (`settle()`). The marks live in storage, so an eviction before the batch loses
 * nothing: the alarm, also in storage, flushes them.
 */
import type { RunState, TransitionEffect } from "../../domain/run-engine/index.ts";
import { isTerminal } from "../../domain/states.ts";
import type { ArtifactRecord } from "../../platform/artifacts.ts";
import type { Env } from "../../platform/env.ts";
import { OutboxStatus } from "../outbox-status.ts";
import { SerialFlush } from "../serial-flush.ts";
import { flushToD1, hasDirty } from "./d1-projection.ts";
import { D1ProjectionWriter } from "./d1-projection-writer.ts";
import { flushDispatchOps, hasDispatchOps } from "./dispatch-outbox.ts";

/**
 * How long the projection gathers a run's changes before one batch writes them (a test stretches
 * it, so that what it counts does not depend on the machine's speed).
 */
export const projectionTiming = { delayMs: 250 };

export interface OutboxHost {
  sql: SqlStorage;
  env: Env;
  state(): RunState | null;
  artifact(id: string): ArtifactRecord | null;
  /**
   * Sets the alarm again: after a failure, for the retry; after a success, so that an alarm set for
   * work now done (a dispatch's fallback) does not come and flush the projection before its time.
   */
  reschedule(): Promise<void>;
  /** Keeps work after the reply going (DurableObjectState.waitUntil). */
  waitUntil(work: Promise<unknown>): void;
}

/** Resolves in a later task: after the reply of the command that is running now has been sent. */
const afterReply = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export class RunOutboxes {
  private readonly d1Status: OutboxStatus;
  private readonly dispatchStatus: OutboxStatus;
  private readonly d1Flush: SerialFlush;
  private readonly dispatchFlush: SerialFlush;
  readonly d1: D1ProjectionWriter;
  /** When this instance first saw a mark that is still unflushed (null: none, or not since it started). */
  private firstDirtyAt: number | null = null;
  /** The flushes started because the run ended, which the ending command awaits. */
  private runEnded: Promise<void> | null = null;

  constructor(private readonly host: OutboxHost) {
    this.d1Status = new OutboxStatus(host.sql, "d1");
    this.dispatchStatus = new OutboxStatus(host.sql, "dispatch");
    this.d1 = new D1ProjectionWriter(host.env.DB);
    this.d1Flush = new SerialFlush(() => this.flushD1Once());
    this.dispatchFlush = new SerialFlush(() => this.flushDispatchOnce());
  }

  /** After a command's storage transaction: what its changes ask of the outboxes. */
  committed(changes: { dispatch: boolean; projected: boolean; transitions: TransitionEffect[] }): void {
    // Dispatcher calls leave now, ahead of the reply (not awaited): a job made ready by this command
    // is queued before whoever got the reply claims again, and they cost one small read to build.
    if (changes.dispatch) void this.dispatch();
    if (!changes.projected) return;
    this.firstDirtyAt ??= Date.now();
    const ended = (entity: TransitionEffect["entity"]) => changes.transitions.some((t) => t.entity === entity && isTerminal(t.to));
    if (ended("run")) this.runEnded = this.settle().then(() => undefined);
    else if (ended("job_attempt")) this.host.waitUntil(afterReply().then(() => this.projectToD1()));
  }

  /** Awaited by a command that may have ended the run: the listing shows the end when it answers. */
  async projected(): Promise<void> {
    const flush = this.runEnded;
    this.runEnded = null;
    await flush;
  }

  /**
   * Flushes the D1 projection now (only the run's own row with `runOnly`), unless it is backing
   * off after a failure: then the alarm retries at the backoff's time, and commands do not each
   * hammer a D1 that is down.
   */
  projectToD1(runOnly = false): Promise<void> {
    const retryAt = this.d1Status.retryAt();
    if (retryAt !== null && retryAt > Date.now()) return Promise.resolve();
    return runOnly ? this.attemptD1(true) : this.d1Flush.request();
  }

  /**
   * For a person's command (create, cancel, re-run, approve): its dispatcher calls and its D1 rows
   * (only the run's own with `runOnly`) sent before it answers, so the queue and the listing a
   * person looks at next already show what they did. An agent's commands answer first instead.
   */
  settle(runOnly = false): Promise<unknown> {
    return Promise.all([this.dispatch(), this.projectToD1(runOnly)]);
  }

  dispatch(): Promise<void> {
    return this.dispatchFlush.request();
  }

  /** The soonest time an outbox needs the alarm (pending work: its backoff, or when it is due). */
  nextAlarmAt(now: number): (number | null)[] {
    return [
      hasDirty(this.host.sql) ? this.projectionDueAt(now) : null,
      hasDispatchOps(this.host.sql) ? (this.dispatchStatus.retryAt() ?? now + 1000) : null,
    ];
  }

  /** When the coalesced batch (or its retry) is due; at once for marks left by an evicted instance. */
  private projectionDueAt(now: number): number {
    return this.d1Status.retryAt() ?? (this.firstDirtyAt === null ? now : this.firstDirtyAt + projectionTiming.delayMs);
  }

  /** From the alarm: both, whatever their backoff says (the alarm is the backoff's time). */
  flushAll(): Promise<unknown> {
    return Promise.all([this.dispatchFlush.request(), this.d1Flush.request()]);
  }

  private flushD1Once(): Promise<void> {
    return this.attemptD1(false);
  }

  private attemptD1(runOnly: boolean): Promise<void> {
    const state = this.host.state();
    if (!state || !hasDirty(this.host.sql)) return Promise.resolve();
    return this.attempt(this.d1Status, "D1 projection failed", async () => {
      await flushToD1(this.host.sql, this.d1, state, Date.now(), (id) => this.host.artifact(id), runOnly);
      if (!hasDirty(this.host.sql)) this.firstDirtyAt = null;
    });
  }

  private flushDispatchOnce(): Promise<void> {
    if (!hasDispatchOps(this.host.sql)) return Promise.resolve();
    return this.attempt(this.dispatchStatus, "dispatcher unreachable", () => flushDispatchOps(this.host.sql, this.host.env));
  }

  /** One try of a flush; a failure is recorded (backoff) and retried from the alarm. */
  private async attempt(status: OutboxStatus, problem: string, flush: () => Promise<unknown>): Promise<void> {
    try {
      await flush();
      status.succeeded();
      await this.host.reschedule();
    } catch (error) {
      status.failed(Date.now(), error);
      console.warn(`run ${this.host.state()?.run.id}: ${problem}, will retry: ${String(error)}`);
      await this.host.reschedule();
    }
  }
}
