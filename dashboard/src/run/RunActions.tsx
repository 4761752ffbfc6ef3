/** Cancel (while the run is live) and Re-run all / failed only (once it ended badly). */
import { useState } from "preact/hooks";
import { api } from "../api/client.ts";
import type { RunView } from "../api/types.ts";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { isTerminal } from "../lib/status.ts";

export function RunActions({ run, onChanged }: { run: RunView; onChanged(run: RunView, newAttempt: boolean): void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [menu, setMenu] = useState(false);
  const act = async (path: string, body: unknown, newAttempt: boolean) => {
    setBusy(true);
    setError(null);
    setMenu(false);
    try {
      onChanged(await api<RunView>("POST", `/api/v1/runs/${run.id}/${path}`, body), newAttempt);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const live = !isTerminal(run.status);
  const rerunnable = run.status === "FAILED" || run.status === "KILLED" || run.status === "WARNING";
  return (
    <div class="run-actions">
      {live && (
        <button type="button" class="btn btn-danger" disabled={busy || run.status === "KILLING"} onClick={() => act("cancel", {}, false)}>
          {run.status === "KILLING" ? "Cancelling…" : "Cancel"}
        </button>
      )}
      {rerunnable && (
        <div class="menu">
          <button type="button" class="btn btn-primary" aria-haspopup="menu" aria-expanded={menu} disabled={busy} onClick={() => setMenu(!menu)}>
            ↻ Re-run ▾
          </button>
          {menu && (
            <div class="menu-list" role="menu">
              <button type="button" role="menuitem" onClick={() => act("rerun", { failedOnly: false }, true)}>
                Re-run all jobs
              </button>
              <button type="button" role="menuitem" onClick={() => act("rerun", { failedOnly: true }, true)}>
                Re-run failed jobs
                <small class="muted">and the jobs that need them</small>
              </button>
            </div>
          )}
        </div>
      )}
      <ErrorNotice error={error} />
    </div>
  );
}
