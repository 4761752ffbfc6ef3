/**
 * Protocol 2's side of a job (domain/protocol.ts JobReport): step updates wait for the next call
 * that goes anyway — a log chunk, a heartbeat, the finish — and ride on it, in the order they
 * happened; a quiet job's updates go on their own after `holdMs`. So a one-step job costs its
 * claim and one finish carrying the step's start and end, the log's last bytes and the outputs.
 *
 * Order: one call at a time carries updates; a call that fails puts its updates back in front.
 */
import type { JobFinish, JobReportAnswer, LogAck, StepUpdate } from "../domain/protocol.ts";
import { isAbortError } from "./backoff.ts";
import { errorMessage, type Logger } from "./logger.ts";
import type { LogTail } from "./log-streamer.ts";
import { JobRejectedError, type JobApi } from "./protocol-client.ts";
import type { ReporterHandlers, StepReports } from "./reporter.ts";

type Update = StepUpdate & { stepId: string };

export interface JobChannelHandlers extends ReporterHandlers {
  /** A report's answer says someone cancelled the job. */
  onCancel: () => void;
}

export class JobChannel implements StepReports {
  private pending: Update[] = [];
  /** A call carrying updates is under way. */
  private carrying = false;
  private timer: NodeJS.Timeout | undefined;
  private dead = false;
  private readonly refusedStarts = new Set<string>();
  private waiters: (() => void)[] = [];

  private readonly api: JobApi;
  private readonly logger: Logger;
  private readonly handlers: JobChannelHandlers;
  private readonly signal: AbortSignal;
  /** How long an update waits for a call to ride on before it goes alone. */
  private readonly holdMs: number;

  constructor(api: JobApi, logger: Logger, handlers: JobChannelHandlers, signal: AbortSignal, holdMs = 1000) {
    this.api = api;
    this.logger = logger;
    this.handlers = handlers;
    this.signal = signal;
    this.holdMs = holdMs;
  }

  step(stepId: string, update: StepUpdate): void {
    if (this.dead) return;
    this.pending.push({ ...update, stepId });
    this.arm();
  }

  /** Updates waiting with no call to ride on go alone after holdMs. */
  private arm(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (this.pending.length > 0 && !this.carrying) void this.send(undefined).catch((err: unknown) => this.failed("step updates", err));
    }, this.holdMs);
  }

  /** The log streamer's sink: each chunk carries the updates waiting. */
  readonly logSink = async (seq: number, offset: number, bytes: Buffer, signal: AbortSignal): Promise<LogAck> => {
    const answer = await this.send({ seq, offset, bytes }, undefined, signal);
    if (!answer.log) throw new JobRejectedError("the report's answer has no log position", 200, "invalid_answer");
    return answer.log;
  };

  /** The job heartbeat: whatever updates wait, and the cancel signal back. */
  async heartbeat(): Promise<boolean> {
    return (await this.send(undefined)).cancel;
  }

  /** The last call: every update left, the log's last bytes, the finish. */
  async finish(finish: JobFinish, tail: LogTail | undefined): Promise<LogAck | undefined> {
    while (this.carrying) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return (await this.send(tail, finish)).log;
  }

  /** Resolves once every update queued so far was sent (or given up). */
  async flush(): Promise<void> {
    while (!this.dead && (this.carrying || this.pending.length > 0)) {
      if (this.carrying) await new Promise<void>((resolve) => this.waiters.push(resolve));
      else await this.send(undefined).catch((err: unknown) => this.failed("step updates", err));
    }
  }

  private async send(log: LogTail | undefined, finish?: JobFinish, signal: AbortSignal = this.signal): Promise<JobReportAnswer> {
    const batch = this.carrying ? [] : this.take();
    if (batch.length > 0) this.carrying = true;
    let answer: JobReportAnswer;
    try {
      answer = await this.api.report({ steps: batch, ...(finish ? { finish } : {}) }, log, signal);
    } catch (err) {
      // Not applied (a refused report applies nothing but what a v1 call would have): again, first.
      if (batch.length > 0) this.pending.unshift(...batch);
      this.release(batch);
      throw err;
    }
    answer.steps.forEach((result, i) => {
      const update = batch[i];
      if (result.ok || !update) return;
      if (update.status === "RUNNING") this.refusedStarts.add(`${update.stepId}#${update.attempt}`);
      if (result.code === "job_cancelling") this.handlers.onCancelling();
      else this.logger.warn(`step ${update.stepId} attempt ${update.attempt} ${update.status} refused: ${result.message ?? result.code}`);
    });
    this.release(batch);
    if (answer.cancel) this.handlers.onCancel();
    return answer;
  }

  /** The updates waiting, but the end of a step attempt whose start the server refused. */
  private take(): Update[] {
    const batch = this.pending.filter((u) => u.status === "RUNNING" || !this.refusedStarts.has(`${u.stepId}#${u.attempt}`));
    this.pending = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return batch;
  }

  private release(batch: Update[]): void {
    if (batch.length === 0) return;
    this.carrying = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
    if (this.pending.length > 0 && !this.dead) this.arm();
  }

  private failed(what: string, err: unknown): void {
    if (err instanceof JobRejectedError) {
      this.dead = true;
      this.handlers.onRejected(err);
    } else if (isAbortError(err)) {
      this.dead = true;
    } else if (this.pending.length > 0) {
      // Retries of what can pass are the HTTP client's: this refusal would come again.
      this.logger.warn(`${what} dropped (${this.pending.length}): ${errorMessage(err)}`);
      this.pending = [];
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
