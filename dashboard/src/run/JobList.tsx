/** The attempt's jobs as a list (the graph's companion on narrow screens and for keyboards). */
import { Duration } from "../components/Duration.tsx";
import { StatusIcon } from "../components/StatusBadge.tsx";
import { statusLook } from "../lib/status.ts";
import type { ShownJob } from "./model.ts";

export function JobList({ jobs, selected, onSelect }: { jobs: ShownJob[]; selected: string | null; onSelect(job: string): void }) {
  return (
    <ul class="joblist" aria-label="Jobs">
      {jobs.map((job) => {
        const attempt = job.attempts[job.attempts.length - 1];
        const look = statusLook(job.status, attempt?.reason);
        return (
          <li key={job.key}>
            <button type="button" class={`joblist-item${selected === job.key ? " is-selected" : ""}`} aria-current={selected === job.key} onClick={() => onSelect(job.key)} data-job={job.key} data-state={job.status}>
              <StatusIcon state={job.status} reason={attempt?.reason} />
              <span class="joblist-name">{job.key}</span>
              <span class="muted small">{look.label}</span>
              <span class="joblist-time">{attempt && <Duration start={attempt.startedAt} end={attempt.endedAt} />}</span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}
