/**
 * The run's two own outboxes (docs/architecture.md "Outboxes, not hopes"): its projection into
 * D1 (./d1-projection.ts) and its calls to the dispatchers (./dispatch-outbox.ts). Each flushes
 * one at a time (SerialFlush), records a failure with backoff (OutboxStatus), and is retried
 * from the object's alarm, which asks `nextAlarmAt` when it is due.
 */
import type { RunState } from "../../domain/run-engine/index.ts";
import type { ArtifactRecord } from "../../platform/artifacts.ts";
import type { Env } from "../../platform/env.ts";
import { OutboxStatus } from "../outbox-status.ts";
import { SerialFlush } from "../serial-flush.ts";
import { flushToD1, hasDirty } from "./d1-projection.ts";
import { flushDispatchOps, hasDispatchOps } from "./dispatch-outbox.ts";

export interface OutboxHost {
  sql: SqlStorage;
  env: Env;
  state(): RunState | null;
  artifact(id: string): ArtifactRecord | null;
  /** A flush failed: the alarm must come back for it. */
  retryLater(): Promise<void>;
}

export class RunOutboxes {
  private readonly d1Status: OutboxStatus;
  private readonly dispatchStatus: OutboxStatus;
  private readonly d1Flush: SerialFlush;
  private readonly dispatchFlush: SerialFlush;

  constructor(private readonly host: OutboxHost) {
    this.d1Status = new OutboxStatus(host.sql, "d1");
    this.dispatchStatus = new OutboxStatus(host.sql, "dispatch");
    this.d1Flush = new SerialFlush(() => this.flushD1Once());
    this.dispatchFlush = new SerialFlush(() => this.flushDispatchOnce());
  }

  /**
   * Flushes the D1 projection now, unless it is backing off after a failure: then the alarm
   * retries at the backoff's time, and commands do not each hammer a D1 that is down.
   */
  projectToD1(): Promise<void> {
    const retryAt = this.d1Status.retryAt();
    return retryAt !== null && retryAt > Date.now() ? Promise.resolve() : this.d1Flush.request();
  }

  dispatch(): Promise<void> {
    return this.dispatchFlush.request();
  }

  /** The soonest time an outbox needs the alarm (pending work: its backoff, or in a second). */
  nextAlarmAt(now: number): (number | null)[] {
    return [
      hasDirty(this.host.sql) ? (this.d1Status.retryAt() ?? now + 1000) : null,
      hasDispatchOps(this.host.sql) ? (this.dispatchStatus.retryAt() ?? now + 1000) : null,
    ];
  }

  /** From the alarm: both, whatever their backoff says (the alarm is the backoff's time). */
  flushAll(): Promise<unknown> {
    return Promise.all([this.dispatchFlush.request(), this.d1Flush.request()]);
  }

  private flushD1Once(): Promise<void> {
    const state = this.host.state();
    if (!state || !hasDirty(this.host.sql)) return Promise.resolve();
    return this.attempt(this.d1Status, "D1 projection failed", () =>
      flushToD1(this.host.sql, this.host.env.DB, state, Date.now(), (id) => this.host.artifact(id)),
    );
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
    } catch (error) {
      status.failed(Date.now(), error);
      console.warn(`run ${this.host.state()?.run.id}: ${problem}, will retry: ${String(error)}`);
      await this.host.retryLater();
    }
  }
}
