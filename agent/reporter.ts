/**
 * Sends a job's step updates one after the other, in the order they happened, without making
 * the steps wait for the server: a step's RUNNING always reaches the server before its end,
 * and a slow or briefly unreachable server only delays the reports (the client retries).
 */
import { isAbortError } from "./backoff.ts";
import { errorMessage, type Logger } from "./logger.ts";
import { JobRejectedError, StepConflictError } from "./protocol-client.ts";
import type { StepUpdate } from "../domain/protocol.ts";

export interface ReporterHandlers {
  /** The server no longer accepts the job: nothing more will be sent. */
  onRejected: (err: JobRejectedError) => void;
  /** The server is cancelling the job (409 job_cancelling): stop it. */
  onCancelling: () => void;
}

/** Where a job's step updates go: v1's calls one by one (Reporter), or protocol 2's reports (JobChannel). */
export interface StepReports {
  step(stepId: string, update: StepUpdate): void;
  /** Resolves when everything queued so far was sent (or given up). */
  flush(): Promise<void>;
}

export class Reporter implements StepReports {
  private tail: Promise<void> = Promise.resolve();
  private readonly logger: Logger;
  private readonly handlers: ReporterHandlers;
  private dead = false;
  /** Step attempts whose start the server refused: their end is not sent either. */
  private readonly refusedStarts = new Set<string>();

  private readonly send: (stepId: string, update: StepUpdate) => Promise<void>;

  constructor(logger: Logger, handlers: ReporterHandlers, send: (stepId: string, update: StepUpdate) => Promise<void>) {
    this.logger = logger;
    this.handlers = handlers;
    this.send = send;
  }

  /**
   * Queues a step update. A 409 refuses that update only: `job_cancelling` stops the job (as
   * a cancel would), anything else is logged and dropped.
   */
  step(stepId: string, update: StepUpdate): void {
    const key = `${stepId}#${update.attempt}`;
    this.enqueue(`step ${stepId} attempt ${update.attempt} ${update.status}`, async () => {
      if (update.status !== "RUNNING" && this.refusedStarts.has(key)) return;
      try {
        await this.send(stepId, update);
      } catch (err) {
        if (!(err instanceof StepConflictError)) throw err;
        if (update.status === "RUNNING") this.refusedStarts.add(key);
        if (err.code === "job_cancelling") this.handlers.onCancelling();
        else this.logger.warn(`step ${stepId} attempt ${update.attempt} ${update.status} refused: ${err.message}`);
      }
    });
  }

  /** Queues a call; its failure never breaks the queue. */
  enqueue(what: string, call: () => Promise<void>): void {
    this.tail = this.tail.then(async () => {
      if (this.dead) return;
      try {
        await call();
      } catch (err) {
        if (err instanceof JobRejectedError) {
          this.dead = true;
          this.handlers.onRejected(err);
        } else if (isAbortError(err)) {
          this.dead = true;
        } else {
          this.logger.warn(`${what}: ${errorMessage(err)}`);
        }
      }
    });
  }

  /** Resolves when everything queued so far was sent (or given up). */
  flush(): Promise<void> {
    return this.tail;
  }
}
