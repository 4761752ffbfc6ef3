/** POST /api/v1/projects {slug, name?, repository?}. */
import { useState } from "preact/hooks";
import { api } from "../api/client.ts";
import type { Project } from "../api/types.ts";
import { ErrorNotice } from "../components/ErrorNotice.tsx";

export function NewProjectForm({ onCreated }: { onCreated(project: Project & { webhookSecret: string }): void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    const body: Record<string, string> = { slug: String(data.get("slug")).trim() };
    const name = String(data.get("name") ?? "").trim();
    const repository = String(data.get("repository") ?? "").trim();
    if (name) body.name = name;
    if (repository) body.repository = repository;
    setBusy(true);
    setError(null);
    try {
      onCreated(await api("POST", "/api/v1/projects", body));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form" onSubmit={submit}>
      <label class="field">
        <span>Slug</span>
        <input name="slug" required pattern="[a-z0-9][a-z0-9\-]{0,62}" placeholder="my-service" autofocus spellcheck={false} />
        <small class="muted">Lowercase letters, digits and “-”; used in URLs and the API.</small>
      </label>
      <label class="field">
        <span>Name</span>
        <input name="name" placeholder="My service" />
      </label>
      <label class="field">
        <span>Repository</span>
        <input name="repository" placeholder="https://github.com/acme/my-service.git" spellcheck={false} />
        <small class="muted">Optional. Agents clone it before running a job.</small>
      </label>
      <ErrorNotice error={error} />
      <div class="form-actions">
        <button type="submit" class="btn btn-primary" disabled={busy}>
          Create project
        </button>
      </div>
    </form>
  );
}
