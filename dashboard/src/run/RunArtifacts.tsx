/** The run's artifacts: filename, job, attempt, size, SHA-256, download. */
import { useEffect, useRef } from "preact/hooks";
import type { ArtifactView, Page } from "../api/types.ts";
import { useResource } from "../hooks/use-resource.ts";
import { ArtifactsTable } from "../pages/ArtifactsTable.tsx";

export function RunArtifacts({ runId, changeKey }: { runId: string; changeKey: string }) {
  const artifacts = useResource<Page<ArtifactView>>(`/api/v1/artifacts?run=${runId}&limit=100`);
  // Artifacts are uploaded as jobs end: look again whenever a job's state changes.
  const seen = useRef(changeKey);
  useEffect(() => {
    if (seen.current === changeKey) return;
    seen.current = changeKey;
    artifacts.reload();
  }, [changeKey]);
  if (!artifacts.data || artifacts.data.items.length === 0) return null;
  return (
    <section class="section" aria-label="Artifacts">
      <h2>Artifacts</h2>
      <ArtifactsTable items={artifacts.data.items} showRun={false} />
    </section>
  );
}
