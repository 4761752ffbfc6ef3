/**
 * Datasets seen in lineage events (GET /api/v1/datasets; docs/lineage.md): search on the
 * namespace and name, each with the last job that wrote it and the pipelines whose
 * `on: dataset` it starts.
 */
import { withQuery } from "../api/client.ts";
import type { DatasetView, Page } from "../api/types.ts";
import { DataTable, TimeCell } from "../components/DataTable.tsx";
import { Empty } from "../components/Empty.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { Pager, pageTrail } from "../components/Pager.tsx";
import { SearchFilters } from "../components/SearchFilters.tsx";
import { useResource } from "../hooks/use-resource.ts";
import { Link, useLocation } from "../router.tsx";

export function DatasetsPage() {
  const { query } = useLocation();
  const q = query.get("q") ?? "";
  const trail = pageTrail(query);
  const datasets = useResource<Page<DatasetView>>(withQuery("/api/v1/datasets", { q, limit: 50, cursor: trail[trail.length - 1] }), { pollMs: 10_000 });

  return (
    <>
      <PageHeader title="Datasets" />
      <SearchFilters placeholder="namespace or name, e.g. s3://raw or orders" />
      <ErrorNotice error={datasets.error} />
      {datasets.data && datasets.data.items.length === 0 && <Empty>No datasets match. Datasets appear when a job names them in its lineage events.</Empty>}
      {datasets.data && datasets.data.items.length > 0 && <DatasetsTable items={datasets.data.items} />}
      {datasets.data && <Pager trail={trail} next={datasets.data.cursor} />}
    </>
  );
}

function DatasetsTable({ items }: { items: DatasetView[] }) {
  return (
    <DataTable class="table datasets-table stack" columns={["Dataset", "Latest producer", "Triggers", { label: "Updated", class: "col-opt" }]}>
      {items.map((d) => (
        <tr key={`${d.namespace}\u0000${d.name}`} data-dataset={`${d.namespace}/${d.name}`}>
          <td data-label="Dataset">
            <span class="muted mono small">{d.namespace}</span>
            <br />
            <span class="mono">{d.name}</span>
          </td>
          <td data-label="Latest producer">
            {d.producer ? (
              <>
                <span class="muted">{d.producer.namespace} / </span>
                {d.producer.job}
                {d.producer.eventType && <span class="muted small"> · {d.producer.eventType}</span>}
                {d.producer.runId && (
                  <>
                    <br />
                    <code class="small" title={d.producer.runId}>
                      run {d.producer.runId.slice(0, 8)}…
                    </code>
                  </>
                )}
              </>
            ) : (
              <span class="muted">only read so far</span>
            )}
          </td>
          <td data-label="Triggers">
            {d.triggers.length === 0 && <span class="muted">none</span>}
            {d.triggers.map((t) => (
              <div key={`${t.project}/${t.pipeline}`}>
                <span class="muted">{t.project} / </span>
                <Link href={`/projects/${t.project}/pipelines/${t.pipeline}`}>{t.pipeline}</Link>
              </div>
            ))}
          </td>
          <TimeCell label="Updated" at={d.updatedAt} class="col-opt nowrap" />
        </tr>
      ))}
    </DataTable>
  );
}
