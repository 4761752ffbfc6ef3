/**
 * Every run, newest first, with filters (project, pipeline, status, branch) and cursor paging,
 * all kept in the URL. The page in view is refreshed every few seconds (live).
 */
import type { Page, RunSummaryView } from "../api/types.ts";
import { api, withQuery } from "../api/client.ts";
import { CancelSelectedButton, ConfirmCancel } from "../components/BulkCancel.tsx";
import { can, useSession } from "../session.ts";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { Pager, pageTrail } from "../components/Pager.tsx";
import { ProjectFilter } from "../components/ProjectFilter.tsx";
import { useBulkCancel } from "../hooks/use-bulk-cancel.ts";
import { useResource } from "../hooks/use-resource.ts";
import { isTerminal, STATUS_FILTERS } from "../lib/status.ts";
import { setQuery, useLocation } from "../router.tsx";
import { RunsTable } from "./RunsTable.tsx";

export const RUNS_POLL_MS = 2500;

export function RunsPage() {
  const { query } = useLocation();
  const project = query.get("project") ?? "";
  const pipeline = query.get("pipeline") ?? "";
  const status = query.get("status") ?? "";
  const branch = query.get("branch") ?? "";
  const trail = pageTrail(query);
  const path = withQuery("/api/v1/runs", {
    project,
    pipeline,
    branch,
    status: STATUS_FILTERS[status as keyof typeof STATUS_FILTERS],
    limit: 25,
    cursor: trail[trail.length - 1],
  });
  const runs = useResource<Page<RunSummaryView>>(path, { pollMs: RUNS_POLL_MS });
  const filter = (changes: Record<string, string>) => setQuery({ ...changes, pages: null });
  const session = useSession();
  const bulk = useBulkCancel({
    // One call per run (POST /api/v1/runs/:run/cancel); every one is tried, the first failure is shown.
    cancel: async () => {
      const results = await Promise.allSettled(chosen.map((r) => api("POST", `/api/v1/runs/${r.id}/cancel`, {})));
      bulk.setSelected(new Set());
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    },
    after: () => runs.reload(),
  });
  // Only runs shown and still cancellable count (one may have ended since it was ticked).
  const chosen = (runs.data?.items ?? []).filter((r) => bulk.selected.has(r.id) && !isTerminal(r.status) && r.status !== "KILLING");

  return (
    <>
      <PageHeader
        title="Runs"
        actions={can(session, "run") && <CancelSelectedButton count={chosen.length} busy={bulk.busy} onClick={bulk.ask} />}
      />
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <ProjectFilter value={project} onChange={(slug) => filter({ project: slug })} />
        <label class="field field-inline">
          <span>Status</span>
          <select value={status} onChange={(e) => filter({ status: e.currentTarget.value })}>
            <option value="">Any</option>
            {Object.keys(STATUS_FILTERS).map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label class="field field-inline">
          <span>Pipeline</span>
          <input
            type="search"
            value={pipeline}
            placeholder="name"
            spellcheck={false}
            onChange={(e) => filter({ pipeline: e.currentTarget.value.trim() })}
          />
        </label>
        <label class="field field-inline">
          <span>Branch</span>
          <input type="search" value={branch} placeholder="main" spellcheck={false} onChange={(e) => filter({ branch: e.currentTarget.value.trim() })} />
        </label>
      </form>
      <ErrorNotice error={bulk.error ?? runs.error} />
      {runs.data && <RunsTable runs={runs.data.items} selection={can(session, "run") ? { selected: bulk.selected, onToggle: bulk.toggle } : undefined} />}
      <ConfirmCancel open={bulk.confirming} noun="run" count={chosen.length} onClose={bulk.close} onConfirm={bulk.confirm}>
        {chosen.map((r) => (
          <li key={r.id}>
            <strong>
              {r.pipeline} #{r.number}
            </strong>{" "}
            <span class="muted">· {r.project}</span>
          </li>
        ))}
      </ConfirmCancel>
      {runs.data && <Pager trail={trail} next={runs.data.cursor} />}
    </>
  );
}
