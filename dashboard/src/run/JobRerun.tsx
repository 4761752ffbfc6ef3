/**
 * Re-run one job of an ended run (any outcome, SUCCESS included) and the jobs that need it, as a
 * new attempt, after a confirmation. A matrix instance re-runs the whole matrix job (the API names
 * a matrix job by its key as written).
 */
import { useState } from "preact/hooks";
import { api } from "../api/client.ts";
import type { RunView } from "../api/types.ts";
import { Dialog } from "../components/Dialog.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import type { ShownJob } from "./model.ts";

export function JobRerun({ runId, job, onRerun }: { runId: string; job: ShownJob; onRerun(run: RunView): void }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const key = job.matrixJob ?? job.key;
  const rerun = async () => {
    setBusy(true);
    setError(null);
    setConfirming(false);
    try {
      onRerun(await api<RunView>("POST", `/api/v1/runs/${runId}/rerun`, { jobs: [key] }));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="job-rerun">
      <button type="button" class="btn btn-sm" disabled={busy} aria-label={`Re-run job ${key}`} onClick={() => setConfirming(true)}>
        ↻ Re-run
      </button>
      <Dialog open={confirming} title={`Re-run job ${key}?`} onClose={() => setConfirming(false)}>
        <p>
          <strong>{key}</strong>
          {job.matrixJob ? " (every instance of the matrix)" : ""} and the jobs that need it run again in a new attempt; the other
          jobs keep their results and outputs.
        </p>
        <div class="form-actions">
          <button type="button" class="btn" onClick={() => setConfirming(false)}>
            Keep it
          </button>
          <button type="button" class="btn btn-primary" onClick={rerun} autofocus>
            Re-run
          </button>
        </div>
      </Dialog>
      <ErrorNotice error={error} />
    </div>
  );
}
