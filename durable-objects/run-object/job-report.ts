/**
 * Protocol 2's report (domain/protocol.ts JobReport): what v1 sends as up to four calls — a log
 * chunk, step updates, the heartbeat, the finish — applied in that order in one, by the very
 * handlers that serve v1, so both versions keep one meaning.
 */
import type { JobFinish, JobReport, JobReportAnswer, LogAck, StepUpdate } from "../../domain/protocol.ts";
import { ok, type Result } from "../../platform/result.ts";

/** The RunObject's job-token handlers a report goes through. */
export interface JobHandlers {
  appendLog(jobAttemptId: string, token: string, seq: number, offset: number, data: Uint8Array): Promise<Result<unknown>>;
  updateStep(jobAttemptId: string, token: string, stepId: string, update: StepUpdate): Promise<Result<null>>;
  jobHeartbeat(jobAttemptId: string, token: string): Promise<Result<{ cancel: boolean }>>;
  finishJob(jobAttemptId: string, token: string, finish: JobFinish): Promise<Result<null>>;
}

export interface LogChunk {
  seq: number;
  offset: number;
  data: Uint8Array;
}

export async function applyJobReport(
  handlers: JobHandlers,
  jobAttemptId: string,
  token: string,
  report: JobReport,
  log: LogChunk | undefined,
  /** Whether the job attempt is being cancelled, read without a command. */
  cancelling: () => boolean,
): Promise<Result<JobReportAnswer>> {
  let ack: LogAck | undefined;
  if (log) {
    // First, as v1's agent sends its log before the finish; a gap refuses the whole report
    // (409 log_gap): the agent sends it again, steps and all, from where the log resumes.
    const stored = await handlers.appendLog(jobAttemptId, token, log.seq, log.offset, log.data);
    if (!stored.ok) return stored;
    ack = stored.value as LogAck;
  }
  const steps: JobReportAnswer["steps"] = [];
  for (const { stepId, ...update } of report.steps) {
    const applied = await handlers.updateStep(jobAttemptId, token, stepId, update);
    if (applied.ok) steps.push({ ok: true });
    // A 409 concerns that update alone (v1 answers it to that update's own call).
    else if (applied.error.status === 409) steps.push({ ok: false, code: applied.error.code, message: applied.error.message });
    else return applied;
  }
  if (report.finish) {
    const finished = await handlers.finishJob(jobAttemptId, token, report.finish);
    if (!finished.ok) return finished;
    return ok({ cancel: false, ...(ack ? { log: ack } : {}), steps, finished: true });
  }
  // A log chunk alone is answered without a command (a chatty step sends ten a second; v1's log
  // route writes nothing but the log either): the agent's own heartbeats keep the job alive.
  // It may be a late chunk of a job that ended, taken during the grace.
  if (ack && steps.length === 0) return ok({ cancel: cancelling(), log: ack, steps, finished: false });
  const beat = await handlers.jobHeartbeat(jobAttemptId, token);
  if (!beat.ok) return beat;
  return ok({ cancel: beat.value.cancel, ...(ack ? { log: ack } : {}), steps, finished: false });
}
