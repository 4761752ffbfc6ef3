/** A job attempt's steps: status, duration, exit code, outputs and metrics. */
import type { JobAttemptView } from "../api/types.ts";
import { Duration } from "../components/Duration.tsx";
import { StatusBadge } from "../components/StatusBadge.tsx";
import { formatDuration } from "../lib/format.ts";

export function StepTable({ attempt, selected, onSelect }: { attempt: JobAttemptView; selected: string | null; onSelect(step: string): void }) {
  if (attempt.steps.length === 0) return null;
  return (
    <div class="table-wrap">
      <table class="table steps-table">
        <thead>
          <tr>
            <th>Step</th>
            <th>Status</th>
            <th class="num">Duration</th>
            <th class="num col-opt">Exit</th>
            <th>Outputs</th>
            <th>Metrics</th>
          </tr>
        </thead>
        <tbody>
          {attempt.steps.map((s) => (
            <tr key={s.id} class={selected === s.id ? "is-selected" : undefined} data-step={s.id}>
              <td>
                <button type="button" class="linkish strong" onClick={() => onSelect(s.id)} title="Show in the log">
                  {s.name || s.id}
                </button>
                {s.attempts.length > 1 && <span class="muted small"> ({s.attempts.length} attempts)</span>}
              </td>
              <td>
                <StatusBadge state={s.status} reason={s.reason} />
              </td>
              <td class="num">
                <Duration start={s.startedAt} end={s.endedAt} />
              </td>
              <td class="num mono col-opt">{s.exitCode ?? "—"}</td>
              <td>
                {Object.entries(s.outputs).map(([k, v]) => (
                  <span key={k} class="kv" title={`${k}=${v}`}>
                    <span class="kv-k">{k}</span>
                    <span class="kv-v">{v}</span>
                  </span>
                ))}
              </td>
              <td>
                {s.metrics.map((m) => (
                  <span key={m.name} class="kv">
                    <span class="kv-k">{m.name}</span>
                    <span class="kv-v">{m.kind === "duration" ? formatDuration(m.value) : m.value.toLocaleString()}</span>
                  </span>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
