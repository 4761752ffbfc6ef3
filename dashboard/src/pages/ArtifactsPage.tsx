/** Every artifact across runs and projects: search on the name, filter by project or run, paging. */
import { withQuery } from "../api/client.ts";
import type { ArtifactView, Page } from "../api/types.ts";
import { Empty } from "../components/Empty.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { Pager, pageTrail } from "../components/Pager.tsx";
import { ProjectFilter } from "../components/ProjectFilter.tsx";
import { SearchFilters } from "../components/SearchFilters.tsx";
import { useResource } from "../hooks/use-resource.ts";
import { setQuery, useLocation } from "../router.tsx";
import { ArtifactsTable } from "./ArtifactsTable.tsx";

export function ArtifactsPage() {
  const { query } = useLocation();
  const q = query.get("q") ?? "";
  const project = query.get("project") ?? "";
  const run = query.get("run") ?? "";
  const trail = pageTrail(query);
  const artifacts = useResource<Page<ArtifactView>>(withQuery("/api/v1/artifacts", { q, project, run, limit: 50, cursor: trail[trail.length - 1] }), { pollMs: 10_000 });

  return (
    <>
      <PageHeader title="Artifacts" />
      <SearchFilters placeholder="file name, e.g. coverage">
        <ProjectFilter value={project} onChange={(slug) => setQuery({ project: slug, pages: null })} />
        {run && (
          <span class="chip">
            run {run.slice(0, 8)}…{" "}
            <button type="button" class="linkish" aria-label="Any run" onClick={() => setQuery({ run: null, pages: null })}>
              ✕
            </button>
          </span>
        )}
      </SearchFilters>
      <ErrorNotice error={artifacts.error} />
      {artifacts.data && artifacts.data.items.length === 0 && <Empty>No artifacts match.</Empty>}
      {artifacts.data && artifacts.data.items.length > 0 && <ArtifactsTable items={artifacts.data.items} />}
      {artifacts.data && <Pager trail={trail} next={artifacts.data.cursor} />}
    </>
  );
}
