/** Every attempt of the run (a re-run adds one; earlier ones stay as they were). */
import type { RunView } from "../api/types.ts";
import { statusLook } from "../lib/status.ts";

export function AttemptSwitcher({ run, shown, onShow }: { run: RunView; shown: number; onShow(n: number | null): void }) {
  if (run.attempts.length < 2) return <span class="muted attempt-one">Attempt 1</span>;
  return (
    <label class="field field-inline attempt-switcher">
      <span>Attempt</span>
      <select aria-label="Run attempt" value={String(shown)} onChange={(e) => onShow(Number(e.currentTarget.value) === run.attempt ? null : Number(e.currentTarget.value))}>
        {[...run.attempts].reverse().map((a) => (
          <option key={a.number} value={String(a.number)}>
            {a.number} — {statusLook(a.status).label}
            {a.failedOnly ? " (failed only)" : ""}
            {a.number === run.attempt ? " · latest" : ""}
          </option>
        ))}
      </select>
    </label>
  );
}
