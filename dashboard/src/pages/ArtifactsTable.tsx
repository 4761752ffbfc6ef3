/** Artifacts as a table: name, run, job, size, SHA-256 (copyable), download link. */
import type { ArtifactView } from "../api/types.ts";
import { TimeAgo } from "../components/TimeAgo.tsx";
import { formatBytes } from "../lib/format.ts";
import { Link } from "../router.tsx";

export function ArtifactsTable({ items, showRun = true }: { items: ArtifactView[]; showRun?: boolean }) {
  return (
    <div class="table-wrap">
      <table class="table artifacts-table stack">
        <thead>
          <tr>
            <th>File</th>
            {showRun && <th>Run</th>}
            <th>Job</th>
            <th class="num">Size</th>
            <th>SHA-256</th>
            <th class="col-opt">Uploaded</th>
            <th>
              <span class="sr-only">Download</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((a) => (
            <tr key={a.id} data-artifact={a.name}>
              <td class="mono artifact-name" data-label="File">{a.name}</td>
              {showRun && (
                <td class="nowrap" data-label="Run">
                  <span class="muted">{a.project} / </span>
                  <Link href={`/runs/${a.run}?attempt=${a.attempt}`}>
                    {a.pipeline} #{a.runNumber}
                  </Link>
                </td>
              )}
              <td class="nowrap" data-label="Job">
                {a.job}
                {a.attempt > 1 && <span class="muted small"> · attempt {a.attempt}</span>}
              </td>
              <td class="num nowrap" data-label="Size">{formatBytes(a.size)}</td>
              <td data-label="SHA-256">
                <code class="sha" title={a.sha256}>
                  {a.sha256.slice(0, 12)}…
                </code>
                <button type="button" class="btn btn-ghost btn-xs" aria-label={`Copy the SHA-256 of ${a.name}`} onClick={() => navigator.clipboard?.writeText(a.sha256)}>
                  copy
                </button>
              </td>
              <td class="col-opt nowrap" data-label="Uploaded">
                <TimeAgo at={a.createdAt} />
              </td>
              <td class="num stack-action">
                {a.expired ? (
                  <span class="muted" title="removed by the project's retention">expired</span>
                ) : (
                  <a class="btn btn-sm" href={`/api/v1/artifacts/${a.id}/download`} download={a.name.split("/").pop()}>
                    Download
                  </a>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
