/**
 * The selected job: its status, agent, attempts (retries), steps with outputs and metrics, and
 * log; for an approval job, its prompt and form instead of steps and log.
 */
import type { JobAttemptView, RunView } from "../api/types.ts";
import { Duration } from "../components/Duration.tsx";
import { StatusBadge } from "../components/StatusBadge.tsx";
import type { RunFeed } from "../live/types.ts";
import { ApprovalPanel } from "./ApprovalPanel.tsx";
import { JobRerun } from "./JobRerun.tsx";
import { LogPanel } from "./LogPanel.tsx";
import { awaitsApproval, type ShownJob } from "./model.ts";
import { StepTable } from "./StepTable.tsx";

export function JobPanel({
  feed,
  runId,
  job,
  attempt,
  step,
  onStep,
  onJobAttempt,
  onShowRunAttempt,
  onRerun,
  canDecide,
  onDecided,
}: {
  feed: RunFeed | null;
  runId: string;
  job: ShownJob;
  attempt: JobAttemptView | undefined;
  step: string | null;
  onStep(step: string | null): void;
  onJobAttempt(n: number | null): void;
  onShowRunAttempt(n: number): void;
  /** Given when the run has ended and the caller may run: the job's re-run button, and what follows it. */
  onRerun?: (run: RunView) => void;
  /** Whether the caller may approve or reject an approval job (the `run` scope on the run's project). */
  canDecide: boolean;
  /** After an approval job was approved or rejected: the run as the API answered. */
  onDecided(run: RunView): void;
}) {
  return (
    <section class="jobpanel" aria-label={`Job ${job.key}`}>
      <div class="jobpanel-head">
        <h2>
          {job.key} <StatusBadge state={job.status} reason={attempt?.reason} />
          {awaitsApproval(job) && <span class="badge tone-warning">Waiting for approval</span>}
        </h2>
        {onRerun && <JobRerun runId={runId} job={job} onRerun={onRerun} />}
        <div class="muted small jobpanel-facts">
          {attempt?.agent && <span>on {attempt.agent}</span>}
          {attempt && (
            <span>
              <Duration start={attempt.startedAt} end={attempt.endedAt} />
            </span>
          )}
          {job.labels.length > 0 && <span>runs-on {job.labels.join(", ")}</span>}
          {job.needs.length > 0 && <span>needs {job.needs.join(", ")}</span>}
          {attempt?.reason && attempt.reason !== "exit_code" && <span>reason: {attempt.reason}</span>}
          {attempt?.message && <span class="job-message">{attempt.message}</span>}
          {attempt?.retry && <span>{attempt.retry}</span>}
        </div>
        {job.attempts.length > 1 && (
          <div class="tabs" role="tablist" aria-label="Job attempts">
            {job.attempts.map((a) => (
              <button
                key={a.id}
                type="button"
                role="tab"
                aria-selected={a.id === attempt?.id}
                class={`tab${a.id === attempt?.id ? " is-selected" : ""}`}
                onClick={() => onJobAttempt(a.number === job.attempts.length ? null : a.number)}
              >
                Try {a.number} <StatusBadge state={a.status} reason={a.reason} />
              </button>
            ))}
          </div>
        )}
        {job.reused && (
          <p class="notice">
            Kept from attempt {job.reused.attempt} (this re-run ran only the failed jobs).{" "}
            <button type="button" class="linkish" onClick={() => onShowRunAttempt(job.reused!.attempt)}>
              Show attempt {job.reused.attempt}
            </button>
          </p>
        )}
      </div>
      {job.approval ? (
        <ApprovalPanel runId={runId} job={job} attempt={attempt} canDecide={canDecide} onDecided={onDecided} />
      ) : attempt ? (
        <>
          <StepTable attempt={attempt} selected={step} onSelect={onStep} />
          <LogPanel key={attempt.id} feed={feed} runId={runId} job={job} attempt={attempt} step={step} />
        </>
      ) : (
        <p class="empty">
          {job.status === "KILLED" ? "This job was not run." : job.waitingOn.length > 0 ? `Waiting for ${job.waitingOn.join(", ")}.` : "Waiting for an agent…"}
        </p>
      )}
    </section>
  );
}
