/** URL → page. Every page reads its state from the URL, so each view can be linked to. */
import { useEffect } from "preact/hooks";
import { AgentsPage } from "./pages/AgentsPage.tsx";
import { AuditPage } from "./pages/AuditPage.tsx";
import { PeoplePage } from "./pages/PeoplePage.tsx";
import { ArtifactsPage } from "./pages/ArtifactsPage.tsx";
import { ComparePage } from "./pages/ComparePage.tsx";
import { DatasetsPage } from "./pages/DatasetsPage.tsx";
import { NotFound } from "./pages/NotFound.tsx";
import { PipelineEditorPage } from "./pages/PipelineEditorPage.tsx";
import { ProjectPage } from "./pages/ProjectPage.tsx";
import { ProjectSettingsPage } from "./pages/ProjectSettingsPage.tsx";
import { ProjectsPage } from "./pages/ProjectsPage.tsx";
import { QueuePage } from "./pages/QueuePage.tsx";
import { RunPage } from "./pages/RunPage.tsx";
import { RunsPage } from "./pages/RunsPage.tsx";
import { match, navigate, useLocation } from "./router.tsx";

export function Routes() {
  const { path } = useLocation();
  useEffect(() => {
    if (path === "/" || path === "/signin") navigate("/runs", { replace: true });
  }, [path]);

  let m: Record<string, string> | null;
  if (path === "/" || path === "/signin") return null;
  if (match("/runs", path)) return <RunsPage />;
  if ((m = match("/runs/:run", path))) return <RunPage key={m.run} runId={m.run!} />;
  if ((m = match("/runs/:run/compare", path))) return <ComparePage key={m.run} runId={m.run!} />;
  if (match("/projects", path)) return <ProjectsPage />;
  if ((m = match("/projects/:project", path))) return <ProjectPage key={m.project} slug={m.project!} />;
  if ((m = match("/projects/:project/settings", path))) return <ProjectSettingsPage key={`settings:${m.project}`} slug={m.project!} />;
  // One editor per project: saving a new pipeline turns its URL into the pipeline's own without
  // losing the page (its message, the caret).
  if ((m = match("/projects/:project/new-pipeline", path))) return <PipelineEditorPage key={`editor:${m.project}`} project={m.project!} pipeline={null} />;
  if ((m = match("/projects/:project/pipelines/:pipeline", path)))
    return <PipelineEditorPage key={`editor:${m.project}`} project={m.project!} pipeline={m.pipeline!} />;
  if (match("/queue", path)) return <QueuePage />;
  if (match("/artifacts", path)) return <ArtifactsPage />;
  if (match("/datasets", path)) return <DatasetsPage />;
  if (match("/agents", path)) return <AgentsPage />;
  if (match("/settings/people", path)) return <PeoplePage />;
  if (match("/audit", path)) return <AuditPage />;
  return <NotFound />;
}
