/** Runs as a table: status, number, pipeline, branch, commit, trigger, duration, attempt, when. */
import type { RunSummaryView } from "../api/types.ts";
import { Duration } from "../components/Duration.tsx";
import { Empty } from "../components/Empty.tsx";
import { StatusBadge } from "../components/StatusBadge.tsx";
import { TimeAgo } from "../components/TimeAgo.tsx";
import { shortSha } from "../lib/format.ts";
import { isTerminal } from "../lib/status.ts";
import { Link } from "../router.tsx";

/** Checkboxes for the runs that can still be cancelled (the runs page's bulk cancel). */
export interface RunSelection {
  selected: Set<string>;
  onToggle(id: string): void;
}

export function RunsTable({ runs, hideProject, selection }: { runs: RunSummaryView[]; hideProject?: boolean; selection?: RunSelection }) {
  if (runs.length === 0) return <Empty>No runs match.</Empty>;
  return (
    <div class="table-wrap">
      <table class="table runs-table">
        <thead>
          <tr>
            {selection && (
              <th class="check">
                <span class="sr-only">Select</span>
              </th>
            )}
            <th>Status</th>
            <th>Run</th>
            <th>Pipeline</th>
            <th>Branch</th>
            <th class="col-opt">Commit</th>
            <th class="col-opt">Trigger</th>
            <th class="num">Duration</th>
            <th class="num col-opt">Attempt</th>
            <th class="col-opt">Created</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr key={r.id} data-run={r.id} data-status={r.status}>
              {selection && (
                <td class="check">
                  {!isTerminal(r.status) && r.status !== "KILLING" && (
                    <input type="checkbox" aria-label={`Select run #${r.number}`} checked={selection.selected.has(r.id)} onChange={() => selection.onToggle(r.id)} />
                  )}
                </td>
              )}
              <td class="c-status">
                <StatusBadge state={r.status} />
                {r.awaitingApproval && (
                  <Link
                    href={`/runs/${r.id}?job=${encodeURIComponent(r.awaitingApproval[0]!)}`}
                    class="badge tone-warning approval-badge"
                    aria-label={`Waiting for approval: run #${r.number}, job ${r.awaitingApproval.join(", ")}`}
                  >
                    Waiting for approval
                  </Link>
                )}
              </td>
              <td class="nowrap c-run">
                <Link href={`/runs/${r.id}`} class="strong run-link">
                  #{r.number}
                </Link>
              </td>
              <td class="ellipsis c-pipe">
                {!hideProject && <span class="muted">{r.project} / </span>}
                {r.pipeline}
              </td>
              <td class="mono ellipsis c-branch">{r.branch ?? "—"}</td>
              <td class="mono col-opt" title={r.commit ?? undefined}>
                {shortSha(r.commit)}
              </td>
              <td class="col-opt">{r.trigger}</td>
              <td class="num c-dur">
                <Duration start={r.startedAt} end={r.endedAt} running={r.startedAt !== null && !isTerminal(r.status)} />
              </td>
              <td class="num col-opt">{r.attempt}</td>
              <td class="col-opt nowrap">
                <TimeAgo at={r.createdAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
