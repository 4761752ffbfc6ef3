/**
 * A run's place in dataset-triggered chains (docs/lineage.md): the upstream dataset and run
 * that started it (trigger `lineage`), and what its jobs' outputs started — or why not (a loop,
 * a chain too deep). From GET /api/v1/lineage/triggers?run=; shown only when there is any.
 */
import { useEffect, useRef } from "preact/hooks";
import type { LineageTriggerRecordView, RunView } from "../api/types.ts";
import { DataTable } from "../components/DataTable.tsx";
import { useResource } from "../hooks/use-resource.ts";
import { Link } from "../router.tsx";

const OUTCOME: Record<string, string> = {
  started: "started",
  pending: "starting (retried)",
  loop: "not started: loop",
  too_deep: "not started: chain too long",
  failed: "not started",
};

export function RunLineage({ run, changeKey }: { run: RunView; changeKey: string }) {
  const triggers = useResource<{ items: LineageTriggerRecordView[] }>(`/api/v1/lineage/triggers?run=${run.id}&limit=100`);
  // A job's outputs fire triggers as it ends: look again whenever a job's state changes.
  const seen = useRef(changeKey);
  useEffect(() => {
    if (seen.current === changeKey) return;
    seen.current = changeKey;
    triggers.reload();
  }, [changeKey]);
  const items = triggers.data?.items ?? [];
  const startedBy = items.find((t) => t.runId === run.id);
  const fired = items.filter((t) => t.upstream.ymRunId === run.id);
  if (run.trigger !== "lineage" && fired.length === 0) return null;
  return (
    <section class="section run-lineage" aria-label="Lineage">
      <h2>Lineage</h2>
      {run.trigger === "lineage" && (
        <p data-upstream>
          Started by dataset <code>{run.params.dataset_namespace}</code> <code>{run.params.dataset_name}</code>
          {startedBy ? (
            <>
              , written by <strong>{startedBy.upstream.job}</strong> <span class="muted">({startedBy.upstream.namespace})</span>{" "}
              {startedBy.upstream.ymRunId ? (
                <Link href={`/runs/${startedBy.upstream.ymRunId}`}>upstream run</Link>
              ) : (
                <code title={startedBy.upstream.runId}>run {startedBy.upstream.runId.slice(0, 8)}…</code>
              )}
            </>
          ) : (
            <>
              , upstream run <code>{run.params.upstream_run}</code>
            </>
          )}
          .
        </p>
      )}
      {fired.length > 0 && (
        <DataTable class="table stack" columns={["Pipeline", "Datasets", "Outcome"]} attrs={{ "data-fired": true }}>
          {fired.map((t) => (
            <tr key={`${t.upstream.runId}/${t.project}/${t.pipeline}`} data-outcome={t.outcome}>
              <td data-label="Pipeline">
                <span class="muted">{t.project} / </span>
                {t.pipeline}
              </td>
              <td data-label="Datasets">
                {t.datasets.map((d) => (
                  <div key={`${d.namespace}/${d.name}`} class="mono small">
                    {d.namespace} {d.name}
                  </div>
                ))}
              </td>
              <td data-label="Outcome">
                {t.runId ? <Link href={`/runs/${t.runId}`}>{OUTCOME[t.outcome] ?? t.outcome}</Link> : OUTCOME[t.outcome] ?? t.outcome}
                {t.message && <div class="muted small">{t.message}</div>}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </section>
  );
}
