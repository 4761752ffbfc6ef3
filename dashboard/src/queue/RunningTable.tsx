/** Jobs an agent holds: which agent, for how long, and how long they waited before. */
import type { QueueEntry } from "../api/types.ts";
import { Empty } from "../components/Empty.tsx";
import { formatDuration } from "../lib/format.ts";
import { Link } from "../router.tsx";

export function RunningTable({ entries, now, selected, onToggle }: { entries: QueueEntry[]; now: number; selected: Set<string>; onToggle(id: string): void }) {
  if (entries.length === 0) return <Empty>No job is running.</Empty>;
  return (
    <div class="table-wrap">
      <table class="table queue-table">
        <thead>
          <tr>
            <th class="check">
              <span class="sr-only">Select</span>
            </th>
            <th>Job</th>
            <th>Agent</th>
            <th class="num">Running</th>
            <th class="num col-opt">Waited</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => {
            const assigned = e.assignedAt ? Date.parse(e.assignedAt) : now;
            return (
              <tr key={e.jobAttemptId} data-running-row={e.jobAttemptId} data-job={e.jobKey} class={selected.has(e.jobAttemptId) ? "is-selected" : undefined}>
                <td class="check">
                  <input type="checkbox" aria-label={`Select ${e.jobKey} of run #${e.runNumber}`} checked={selected.has(e.jobAttemptId)} onChange={() => onToggle(e.jobAttemptId)} />
                </td>
                <td>
                  <span class="status-dot tone-running" aria-hidden="true" />{" "}
                  <Link href={`/runs/${e.runId}?job=${encodeURIComponent(e.jobKey)}`} class="strong">
                    {e.jobKey}
                  </Link>
                  <div class="muted small">
                    {e.project} / {e.pipeline} #{e.runNumber}
                  </div>
                </td>
                <td>{e.agent ?? "—"}</td>
                <td class="num nowrap">{formatDuration(now - assigned)}</td>
                <td class="num nowrap col-opt">{formatDuration(assigned - e.readyAt)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
