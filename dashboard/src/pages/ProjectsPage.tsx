/** Every project the token may see, and a form to create one (admin). */
import { useState } from "preact/hooks";
import type { Page, Project } from "../api/types.ts";
import { Dialog } from "../components/Dialog.tsx";
import { Empty } from "../components/Empty.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { TimeAgo } from "../components/TimeAgo.tsx";
import { useResource } from "../hooks/use-resource.ts";
import { Link } from "../router.tsx";
import { can, useSession } from "../session.ts";
import { NewProjectForm } from "./NewProjectForm.tsx";

export function ProjectsPage() {
  const session = useSession();
  const projects = useResource<Page<Project>>("/api/v1/projects");
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<(Project & { webhookSecret: string }) | null>(null);

  return (
    <>
      <PageHeader
        title="Projects"
        actions={
          can(session, "admin") && (
            <button type="button" class="btn btn-primary" onClick={() => setCreating(true)}>
              New project
            </button>
          )
        }
      />
      <ErrorNotice error={projects.error} />
      {created && (
        <div class="notice notice-success" role="status">
          Project <strong>{created.slug}</strong> created. Its webhook secret is shown this once:{" "}
          <code class="secret">{created.webhookSecret}</code>{" "}
          <Link href={`/projects/${created.slug}`}>Open the project →</Link>
        </div>
      )}
      {projects.data && projects.data.items.length === 0 && (
        <Empty>No projects yet.{can(session, "admin") && " Create one to add pipelines to it."}</Empty>
      )}
      {projects.data && projects.data.items.length > 0 && (
        <ul class="cards">
          {projects.data.items.map((p) => (
            <li key={p.id} class="card card-link">
              <Link href={`/projects/${p.slug}`} class="card-title">
                {p.name}
              </Link>
              <div class="muted mono">{p.slug}</div>
              {p.repository && <div class="muted ellipsis">{p.repository}</div>}
              <div class="muted small">
                created <TimeAgo at={p.createdAt} />
              </div>
            </li>
          ))}
        </ul>
      )}
      <Dialog open={creating} title="New project" onClose={() => setCreating(false)}>
        <NewProjectForm
          onCreated={(p) => {
            setCreating(false);
            setCreated(p);
            projects.reload();
          }}
        />
      </Dialog>
    </>
  );
}
