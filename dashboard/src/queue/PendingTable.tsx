/**
 * Pending jobs in claim order. Each row has a drag handle (pointer drag, or ↑/↓ keys when the
 * handle has focus) and a checkbox for bulk cancel; its position and how long it has waited.
 */
import { useRef } from "preact/hooks";
import type { JobInsight } from "../../../domain/queue-insight.ts";
import type { QueueEntry } from "../api/types.ts";
import { Empty } from "../components/Empty.tsx";
import { formatDuration } from "../lib/format.ts";
import { Link } from "../router.tsx";
import { useDragOrder } from "./use-drag-order.ts";

export function PendingTable({
  entries,
  now,
  selected,
  onToggle,
  onToggleAll,
  onMove,
  onDragging,
  mayReorder,
  insight,
}: {
  entries: QueueEntry[];
  /** Why each job waits (GET /api/v1/queue/insight), by job attempt id; absent until loaded. */
  insight?: Map<string, JobInsight>;
  now: number;
  selected: Set<string>;
  onToggle(id: string): void;
  onToggleAll(on: boolean): void;
  onMove(id: string, target: number): void;
  onDragging(on: boolean): void;
  mayReorder: boolean;
}) {
  const body = useRef<HTMLTableSectionElement>(null);
  const ids = entries.map((e) => e.jobAttemptId);
  const { drag, handleProps } = useDragOrder(ids, onMove, onDragging);
  if (entries.length === 0) return <Empty>No job is waiting.</Empty>;
  const others = drag ? ids.filter((id) => id !== drag.id) : ids;
  const dropBefore = drag && drag.target < others.length ? others[drag.target] : null;
  const dropAfter = drag && drag.target >= others.length ? others[others.length - 1] : null;
  const allOn = entries.every((e) => selected.has(e.jobAttemptId));

  return (
    <div class="table-wrap">
      <table class={`table queue-table${drag ? " is-dragging" : ""}`}>
        <thead>
          <tr>
            <th class="check">
              <input type="checkbox" aria-label="Select every pending job" checked={allOn} onChange={(e) => onToggleAll(e.currentTarget.checked)} />
            </th>
            {mayReorder && (
              <th class="handle-col">
                <span class="sr-only">Move</span>
              </th>
            )}
            <th class="num">#</th>
            <th>Job</th>
            <th>Queue</th>
            <th class="col-opt">Labels</th>
            <th class="num col-opt">Priority</th>
            <th class="num">Waiting</th>
            <th>Why it waits</th>
          </tr>
        </thead>
        <tbody ref={body}>
          {entries.map((e, index) => {
            const id = e.jobAttemptId;
            const classes = [];
            if (drag?.id === id) classes.push("is-dragged");
            if (dropBefore === id) classes.push("drop-before");
            if (dropAfter === id) classes.push("drop-after");
            if (selected.has(id)) classes.push("is-selected");
            return (
              <tr key={id} data-queue-row={id} data-job={e.jobKey} class={classes.join(" ")} style={drag?.id === id ? { transform: `translateY(${drag.dy}px)` } : undefined}>
                <td class="check">
                  <input type="checkbox" aria-label={`Select ${e.jobKey} of run #${e.runNumber}`} checked={selected.has(id)} onChange={() => onToggle(id)} />
                </td>
                {mayReorder && (
                  <td class="handle-col">
                    <button
                      type="button"
                      class="drag-handle"
                      aria-label={`Move ${e.jobKey} of run #${e.runNumber} (drag, or ↑ ↓)`}
                      title="Drag to reorder"
                      {...handleProps(id, () => body.current)}
                      onKeyDown={(k) => {
                        if (k.key === "ArrowUp" && index > 0) {
                          k.preventDefault();
                          onMove(id, index - 1);
                        } else if (k.key === "ArrowDown" && index < entries.length - 1) {
                          k.preventDefault();
                          onMove(id, index + 1);
                        }
                      }}
                    >
                      ⠿
                    </button>
                  </td>
                )}
                <td class="num mono queue-pos">{index + 1}</td>
                <td>
                  <Link href={`/runs/${e.runId}?job=${encodeURIComponent(e.jobKey)}`} class="strong">
                    {e.jobKey}
                  </Link>
                  <div class="muted small">
                    {e.project} / {e.pipeline} #{e.runNumber}
                    {e.jobAttempt > 1 && ` · try ${e.jobAttempt}`}
                  </div>
                </td>
                <td class="mono">{e.queue}</td>
                <td class="col-opt">
                  {e.labels.map((l) => (
                    <span key={l} class="chip">
                      {l}
                    </span>
                  ))}
                </td>
                <td class="num col-opt">{e.priority}</td>
                <td class="num nowrap">{formatDuration(now - e.readyAt)}</td>
                <td class="queue-why">
                  <WhyItWaits insight={insight?.get(id)} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** The estimate, or the warning that no online agent can take the job (naming what it lacks). */
function WhyItWaits({ insight }: { insight: JobInsight | undefined }) {
  if (!insight) return <span class="muted">…</span>;
  if (insight.capableAgents === 0) {
    return (
      <span class="wait-warning" data-missing-labels={insight.missingLabels.join(",")}>
        <span aria-hidden="true">⚠ </span>
        No online agent of queue <strong>{insight.queue}</strong>
        {insight.missingLabels.length > 0 ? (
          <>
            {" "}
            carries {insight.missingLabels.length === 1 ? "label" : "labels"}{" "}
            {insight.missingLabels.map((l, i) => (
              <span key={l}>
                {i > 0 && ", "}
                <span class="chip">{l}</span>
              </span>
            ))}
          </>
        ) : (
          " is online"
        )}
      </span>
    );
  }
  return (
    <span class="small" data-estimate>
      {insight.startsInMs === 0 ? "next to start" : `starts in ~${formatDuration(insight.startsInMs)}`}
      <span class="muted">
        {" · "}
        {insight.durationMs === null ? "no past run to estimate from" : `takes ~${formatDuration(insight.durationMs)} (median of ${insight.samples})`}
      </span>
    </span>
  );
}
