/**
 * The Run button's question: which pipeline, which branch (the branches of earlier runs and webhook deliveries are
 * suggested), commit, and the pipeline's params; then POST …/runs and open the new run.
 */
import { useState } from "preact/hooks";
import { api } from "../api/client.ts";
import type { PipelineDetail, RunView } from "../api/types.ts";
import { Dialog } from "../components/Dialog.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { useResource } from "../hooks/use-resource.ts";
import { navigate } from "../router.tsx";

export function RunDialog({ project, pipelines, initial, onClose }: { project: string; pipelines: string[]; initial: string; onClose(): void }) {
  const [pipeline, setPipeline] = useState(initial);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const detail = useResource<PipelineDetail>(pipeline ? `/api/v1/projects/${project}/pipelines/${encodeURIComponent(pipeline)}` : null);
  // The branches earlier runs and webhook deliveries were on, offered as suggestions (any other may still be typed).
  const branches = useResource<{ items: string[] }>(`/api/v1/projects/${project}/branches`);
  const params = Object.entries(detail.data?.name === pipeline ? (detail.data.definition.params ?? {}) : {});

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    const body: { branch?: string; commit?: string; params?: Record<string, string> } = {};
    const branch = String(data.get("branch") ?? "").trim();
    const commit = String(data.get("commit") ?? "").trim();
    if (branch) body.branch = branch;
    if (commit) body.commit = commit;
    const values: Record<string, string> = {};
    for (const [name] of params) {
      const v = data.get(`param:${name}`);
      if (v !== null && String(v) !== "") values[name] = String(v);
    }
    if (Object.keys(values).length) body.params = values;
    setBusy(true);
    setError(null);
    try {
      const run = await api<RunView>("POST", `/api/v1/projects/${project}/pipelines/${encodeURIComponent(pipeline)}/runs`, body);
      navigate(`/runs/${run.id}`);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <Dialog open title={`Run a pipeline of ${project}`} onClose={onClose}>
      <form class="form" onSubmit={submit}>
        <label class="field">
          <span>Pipeline</span>
          <select name="pipeline" value={pipeline} onChange={(e) => setPipeline(e.currentTarget.value)} required>
            {pipelines.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Branch</span>
          <input name="branch" defaultValue="main" spellcheck={false} list="run-branches" autocomplete="off" />
          <datalist id="run-branches">
            {(branches.data?.items ?? []).map((b) => (
              <option key={b} value={b} />
            ))}
          </datalist>
        </label>
        <label class="field">
          <span>Commit</span>
          <input name="commit" placeholder="the branch's head" spellcheck={false} pattern="[0-9A-Za-z._/\-]{1,255}" />
        </label>
        {params.length > 0 && (
          <fieldset class="fieldset">
            <legend>Parameters</legend>
            {params.map(([name, p]) => (
              <label class="field" key={`${pipeline}:${name}`}>
                <span class="mono">{name}</span>
                <input name={`param:${name}`} defaultValue={p.default ?? ""} required={p.default === undefined} spellcheck={false} />
                {p.description && <small class="muted">{p.description}</small>}
              </label>
            ))}
          </fieldset>
        )}
        <ErrorNotice error={error} />
        <div class="form-actions">
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" disabled={busy || !pipeline}>
            ▶ Run
          </button>
        </div>
      </form>
    </Dialog>
  );
}
