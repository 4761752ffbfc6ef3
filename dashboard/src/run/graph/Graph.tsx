/**
 * The graph viewer: a run attempt's jobs (boxes, laid out left to right by their needs) and
 * each job's steps (inside, top to bottom), coloured by state; running ones animate (CSS).
 * Clicking (or Enter on) a job or a step opens its log.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import type { JobView, State } from "../../api/types.ts";
import { useNow } from "../../hooks/use-now.ts";
import { elapsed, formatDuration } from "../../lib/format.ts";
import { statusLook } from "../../lib/status.ts";
import { JOB_HEADER, layoutGraph, STEP_H, type Box } from "./layout.ts";

export interface GraphSelection {
  job: string | null;
  step: string | null;
}

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

function latest(job: JobView) {
  return job.attempts[job.attempts.length - 1];
}

function Node({
  box,
  kind,
  id,
  label,
  state,
  reason,
  waitingOn,
  start,
  end,
  now,
  selected,
  onSelect,
}: {
  box: Box;
  kind: "job" | "step";
  id: string;
  label: string;
  state: State;
  reason: string | null;
  /** A job's: what it still waits for (its concurrency group, approval) shows as its status. */
  waitingOn?: string[];
  start: string | null;
  end: string | null;
  now: number;
  selected: boolean;
  onSelect(): void;
}) {
  const look = statusLook(state, reason, waitingOn);
  const time = formatDuration(elapsed(start, end, now));
  const height = kind === "job" ? JOB_HEADER - 8 : STEP_H;
  const shown = clip(label, Math.floor((box.width - 27 - (start ? 52 : 10)) / (kind === "job" ? 7.8 : 7)));
  const cy = box.y + height / 2 + (kind === "job" ? 4 : 0);
  return (
    <g
      class={`gnode gnode-${kind} tone-${look.tone}${selected ? " is-selected" : ""}`}
      data-node={`${kind}:${id}`}
      data-state={state}
      role="button"
      tabIndex={0}
      // The visible text first, as written (WCAG 2.5.3, label in name), then what only the colour says.
      aria-label={`${shown}${start ? ` ${time}` : ""} (${kind}${shown === label ? "" : ` ${label}`}, ${look.label})`}
      aria-pressed={selected}
      onClick={(e) => {
        e.stopPropagation();
        onSelect();
      }}
      onKeyDown={(e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          e.stopPropagation();
          onSelect();
        }
      }}
    >
      <title>{`${label} — ${look.label}${state === "WARNING" ? " (with warnings)" : ""}`}</title>
      {kind === "job" ? (
        <rect class="gjob-box" x={box.x} y={box.y} width={box.width} height={box.height} rx={10} />
      ) : (
        <rect class="gstep-box" x={box.x} y={box.y} width={box.width} height={box.height} rx={6} />
      )}
      <circle class="gdot" cx={box.x + 14} cy={cy} r={kind === "job" ? 6 : 5} />
      <text class="glabel" x={box.x + 27} y={cy} dominant-baseline="central">
        {/* The trailing space keeps the label and the time apart in the text a screen reader reads. */}
        {`${shown} `}
      </text>
      {start && (
        <text class="gtime" x={box.x + box.width - 10} y={cy} dominant-baseline="central" text-anchor="end">
          {time}
        </text>
      )}
    </g>
  );
}

type GraphProps = { jobs: JobView[]; selection: GraphSelection; onSelect(s: GraphSelection): void };

/**
 * The graph, drawn one frame after the rest of the run page: its layout is the page's costliest
 * render, and waiting lets the log's request leave first (docs/dashboard.md, first paint).
 */
export function Graph(props: GraphProps) {
  const [ready, setReady] = useState(false);
  useEffect(() => setReady(true), []);
  return ready ? <GraphNow {...props} /> : <div class="graph graph-pending" aria-busy="true" />;
}

function GraphNow({ jobs, selection, onSelect }: GraphProps) {
  // Re-layout only when the shape changes, never on a mere state change.
  const shape = JSON.stringify(jobs.map((j) => [j.key, j.needs, latest(j)?.steps.map((s) => [s.id, s.name, s.needs]) ?? []]));
  const layout = useMemo(
    () =>
      layoutGraph(
        jobs.map((j) => ({
          key: j.key,
          needs: j.needs,
          steps: (latest(j)?.steps ?? []).map((s) => ({ id: s.id, label: s.name || s.id, needs: s.needs })),
        })),
      ),
    [shape],
  );
  const running = jobs.some((j) => j.status === "RUNNING" || j.status === "KILLING");
  const now = useNow(running);
  const byKey = new Map(jobs.map((j) => [j.key, j]));

  return (
    <div class="graph" role="group" aria-label="Pipeline graph: click a job or a step to open its log">
      <svg width={layout.width} height={layout.height} viewBox={`0 0 ${layout.width} ${layout.height}`} class="graph-svg">
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="garrow" />
          </marker>
        </defs>
        {layout.edges.map((e) => (
          <path key={`${e.from}>${e.to}`} class={`gedge tone-${statusLook(byKey.get(e.from)!.status).tone}`} d={e.d} marker-end="url(#arrow)" />
        ))}
        {layout.jobs.map((box) => {
          const job = byKey.get(box.key)!;
          const attempt = latest(job);
          const steps = new Map((attempt?.steps ?? []).map((s) => [s.id, s]));
          return (
            <g key={box.key}>
              <Node
                box={box}
                kind="job"
                id={job.key}
                label={job.attempts.length > 1 ? `${job.key} (try ${job.attempts.length})` : job.key}
                state={job.status}
                reason={attempt?.reason ?? null}
                waitingOn={job.waitingOn}
                start={attempt?.startedAt ?? null}
                end={attempt?.endedAt ?? null}
                now={now}
                selected={selection.job === job.key && selection.step === null}
                onSelect={() => onSelect({ job: job.key, step: null })}
              />
              {box.stepEdges.map((e) => (
                <path key={`${e.from}>${e.to}`} class="gedge gedge-step" d={e.d} marker-end="url(#arrow)" />
              ))}
              {box.steps.map((s) => {
                const step = steps.get(s.id)!;
                return (
                  <Node
                    key={s.id}
                    box={s}
                    kind="step"
                    id={`${job.key}/${s.id}`}
                    label={step.name || step.id}
                    state={step.status}
                    reason={step.reason}
                    start={step.startedAt}
                    end={step.endedAt}
                    now={now}
                    selected={selection.job === job.key && selection.step === s.id}
                    onSelect={() => onSelect({ job: job.key, step: s.id })}
                  />
                );
              })}
            </g>
          );
        })}
      </svg>
    </div>
  );
}
