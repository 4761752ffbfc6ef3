/**
 * A project's settings (admin): name, repository, webhook secret, commit statuses, retention
 * (PATCH /api/v1/projects/:project), its pipelines (DELETE each), and deleting the project
 * (DELETE, refused while runs are active). docs/dashboard.md, "Project settings".
 */
import { useState } from "preact/hooks";
import { api } from "../api/client.ts";
import type { Page, PipelineSummary, Project } from "../api/types.ts";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { TimeAgo } from "../components/TimeAgo.tsx";
import { useResource } from "../hooks/use-resource.ts";
import { Link, navigate } from "../router.tsx";
import { can, useSession } from "../session.ts";

const RETENTION_KINDS = ["runs", "artifacts", "logs", "caches"] as const;

export function ProjectSettingsPage({ slug }: { slug: string }) {
  const session = useSession();
  const path = `/api/v1/projects/${encodeURIComponent(slug)}`;
  const project = useResource<Project>(path);
  const pipelines = useResource<Page<PipelineSummary>>(`${path}/pipelines`);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState("");
  const mayEdit = can(session, "admin", slug);
  const p = project.data;

  const run = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      await what();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const save = (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const text = (name: string) => String(data.get(name) ?? "").trim();
    const retention: Record<string, number> = {};
    for (const kind of RETENTION_KINDS) if (text(`retention-${kind}`)) retention[kind] = Number(text(`retention-${kind}`));
    const body: Record<string, unknown> = {
      name: text("name"),
      repository: text("repository") || null,
      statuses: text("github") ? { github: text("github") } : null,
      retention: Object.keys(retention).length > 0 ? retention : null,
    };
    if (text("webhookSecret")) body.webhookSecret = text("webhookSecret");
    void run(async () => {
      await api("PATCH", path, body);
      form.reset(); // the new webhook secret is not kept in the page
      project.reload();
      setSaved("Saved.");
    });
  };

  const deletePipeline = (name: string) =>
    run(async () => {
      if (!window.confirm(`Delete pipeline ${name} and all its versions? Its runs stay.`)) return;
      await api("DELETE", `${path}/pipelines/${encodeURIComponent(name)}`, {});
      pipelines.reload();
      setSaved(`Pipeline ${name} deleted.`);
    });

  const deleteProject = () =>
    run(async () => {
      await api("DELETE", path, {});
      navigate("/projects", { replace: true });
    });

  return (
    <>
      <PageHeader
        title="Settings"
        sub={
          <>
            <Link href="/projects">Projects</Link> / <Link href={`/projects/${slug}`}>{slug}</Link>
          </>
        }
      />
      <ErrorNotice error={project.error ?? pipelines.error ?? error} />
      {saved && (
        <p class="ok-text" role="status">
          {saved}
        </p>
      )}
      {p && (
        <form class="form section" onSubmit={save} key={JSON.stringify(p)}>
          <h2>Project</h2>
          <label class="field">
            <span>Name</span>
            <input name="name" required defaultValue={p.name} disabled={!mayEdit} />
          </label>
          <label class="field">
            <span>Repository</span>
            <input name="repository" defaultValue={p.repository ?? ""} placeholder="https://github.com/acme/my-service.git" spellcheck={false} disabled={!mayEdit} />
            <small class="muted">Agents clone it before each job. Empty: no checkout.</small>
          </label>
          <label class="field">
            <span>New webhook secret</span>
            <input name="webhookSecret" type="password" minLength={16} autocomplete="new-password" placeholder="leave empty to keep the current one" disabled={!mayEdit} />
          </label>
          <h2>Commit statuses</h2>
          <label class="field">
            <span>GitHub repository</span>
            <input name="github" defaultValue={p.statuses?.github ?? ""} placeholder="owner/name" pattern="[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+" spellcheck={false} disabled={!mayEdit} />
            <small class="muted">
              Each run with a commit reports pending, then success or failure, as <span class="mono">yardmaster/&lt;pipeline&gt;</span>. Needs a project secret
              <span class="mono"> GITHUB_TOKEN</span>. Empty: no statuses.
            </small>
          </label>
          {p.statusesError && (
            <div class="notice notice-error" role="alert" data-testid="statuses-error">
              GitHub refused a status of <Link href={`/runs/${p.statusesError.runId}`}>run #{p.statusesError.runNumber}</Link> <TimeAgo at={p.statusesError.at} />
              {p.statusesError.httpStatus !== null && ` (HTTP ${p.statusesError.httpStatus})`}: {p.statusesError.message}
            </div>
          )}
          <h2>Retention (days)</h2>
          <div class="field-row">
            {RETENTION_KINDS.map((kind) => (
              <label class="field field-inline" key={kind}>
                <span>{kind}</span>
                <input name={`retention-${kind}`} type="number" min={1} max={3650} defaultValue={p.retention?.[kind]?.toString() ?? ""} placeholder="forever" disabled={!mayEdit} />
              </label>
            ))}
          </div>
          {mayEdit && (
            <div class="form-actions">
              <button type="submit" class="btn btn-primary" disabled={busy}>
                Save
              </button>
            </div>
          )}
        </form>
      )}
      <section class="section">
        <h2>Pipelines</h2>
        <ul class="plain-list">
          {(pipelines.data?.items ?? []).map((pl) => (
            <li key={pl.id}>
              <Link href={`/projects/${slug}/pipelines/${pl.name}`}>{pl.name}</Link>{" "}
              {mayEdit && (
                <button type="button" class="btn btn-sm btn-danger" disabled={busy} onClick={() => void deletePipeline(pl.name)} aria-label={`Delete pipeline ${pl.name}`}>
                  Delete
                </button>
              )}
            </li>
          ))}
        </ul>
      </section>
      {mayEdit && (
        <section class="section">
          <h2>Delete the project</h2>
          <p class="muted">Its pipelines, runs, logs, artifacts and secrets are deleted for good. Runs still going must be cancelled first.</p>
          <label class="field field-inline">
            <span>Type {slug} to confirm</span>
            <input value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} spellcheck={false} />
          </label>
          <button type="button" class="btn btn-danger" disabled={busy || confirm !== slug} onClick={() => void deleteProject()}>
            Delete project
          </button>
        </section>
      )}
    </>
  );
}
