/** One project: its pipelines (edit, Run), and its latest runs. */
import { useState } from "preact/hooks";
import type { Page, PipelineSummary, Project, RunSummaryView } from "../api/types.ts";
import { DataTable } from "../components/DataTable.tsx";
import { Empty } from "../components/Empty.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { TimeAgo } from "../components/TimeAgo.tsx";
import { useResource } from "../hooks/use-resource.ts";
import { Link } from "../router.tsx";
import { can, useSession } from "../session.ts";
import { RunDialog } from "./RunDialog.tsx";
import { RunsTable } from "./RunsTable.tsx";

export function ProjectPage({ slug }: { slug: string }) {
  const session = useSession();
  const project = useResource<Project>(`/api/v1/projects/${encodeURIComponent(slug)}`);
  const pipelines = useResource<Page<PipelineSummary>>(`/api/v1/projects/${encodeURIComponent(slug)}/pipelines`);
  const runs = useResource<Page<RunSummaryView>>(`/api/v1/runs?project=${encodeURIComponent(slug)}&limit=10`, { pollMs: 3000 });
  const [runFor, setRunFor] = useState<string | null | undefined>(undefined);
  const mayRun = can(session, "run", slug);
  const mayEdit = can(session, "admin", slug);
  const items = pipelines.data?.items ?? [];

  return (
    <>
      <PageHeader
        title={project.data?.name ?? slug}
        sub={
          <>
            <Link href="/projects">Projects</Link> / <span class="mono">{slug}</span>
            {project.data?.repository && <span class="muted"> · {project.data.repository}</span>}
          </>
        }
        actions={
          <>
            {mayEdit && (
              <Link class="btn" href={`/projects/${slug}/settings`}>
                Settings
              </Link>
            )}
            {mayEdit && (
              <Link class="btn" href={`/projects/${slug}/new-pipeline`}>
                New pipeline
              </Link>
            )}
            {mayRun && (
              <button type="button" class="btn btn-primary" disabled={items.length === 0} onClick={() => setRunFor(null)}>
                ▶ Run
              </button>
            )}
          </>
        }
      />
      <ErrorNotice error={project.error ?? pipelines.error} />
      {project.data?.statusesError && (
        <div class="notice notice-error" role="alert">
          Commit statuses: GitHub refused one of run #{project.data.statusesError.runNumber} ({project.data.statusesError.message}).{" "}
          <Link href={`/projects/${slug}/settings`}>Settings →</Link>
        </div>
      )}
      <section class="section">
        <h2>Pipelines</h2>
        {pipelines.data && items.length === 0 && <Empty>
            No pipelines yet.
            {mayEdit && (
              <>
                {" "}
                <Link href={`/projects/${slug}/new-pipeline`}>New pipeline</Link> starts from the recommended bootstrap: your pipeline lives in the repository as{" "}
                <span class="mono">.yardmaster/&lt;name&gt;.act</span>, and each commit runs its own.
              </>
            )}
          </Empty>}
        {items.length > 0 && (
          <DataTable class="table" columns={["Pipeline", { label: "Jobs", class: "col-opt" }, { label: "Version", class: "col-opt" }, "Updated", { label: "Actions", class: "num", screenReaderOnly: true }]}>
            {items.map((p) => (
              <tr key={p.id}>
                <td>
                  <Link href={`/projects/${slug}/pipelines/${p.name}`} class="strong">
                    {p.name}
                  </Link>
                </td>
                <td class="muted col-opt">{p.jobs.join(", ")}</td>
                <td class="mono col-opt" title={p.version.hash}>
                  v{p.version.version}
                </td>
                <td>
                  <TimeAgo at={p.updatedAt} />
                </td>
                <td class="num nowrap">
                  {mayRun && (
                    <button type="button" class="btn btn-sm" onClick={() => setRunFor(p.name)} aria-label={`Run ${p.name}`}>
                      ▶ Run
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </section>
      <section class="section">
        <h2>
          Latest runs <Link href={`/runs?project=${slug}`} class="small">all runs →</Link>
        </h2>
        {runs.data && <RunsTable runs={runs.data.items} hideProject />}
      </section>
      {runFor !== undefined && (
        <RunDialog project={slug} pipelines={items.map((p) => p.name)} initial={runFor ?? items[0]?.name ?? ""} onClose={() => setRunFor(undefined)} />
      )}
    </>
  );
}
