/**
 * People and their roles (admins of every project): everyone who signed in through Cloudflare
 * Access (or was granted a role first), their roles, a form to grant one and a button to remove
 * one. The API checks every change; this page only offers them.
 */
import { useState } from "preact/hooks";
import type { RoleView } from "../../../domain/views.ts";
import { api } from "../api/client.ts";
import { DataTable, TimeCell } from "../components/DataTable.tsx";
import { Empty } from "../components/Empty.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { useResource } from "../hooks/use-resource.ts";

interface User {
  email: string;
  createdAt: string;
  roles: RoleView[];
}

const where = (project: string | null) => project ?? "every project";

export function PeoplePage() {
  const users = useResource<{ items: User[] }>("/api/v1/users");
  const projects = useResource<{ items: { slug: string }[] }>("/api/v1/projects");
  const [error, setError] = useState<Error | undefined>();
  const [form, setForm] = useState({ email: "", project: "", role: "read" as RoleView["role"] });

  const change = async (method: "PUT" | "DELETE", email: string, role: RoleView) => {
    setError(undefined);
    try {
      await api(method, `/api/v1/users/${encodeURIComponent(email)}/roles`, role);
      users.reload();
    } catch (e) {
      setError(e as Error);
    }
  };
  const items = users.data?.items ?? [];
  return (
    <>
      <PageHeader title="People" sub="Roles have the meaning of token scopes: read < run < admin, on one project or on every project." />
      <form
        class="filters"
        aria-label="Grant a role"
        onSubmit={(e) => {
          e.preventDefault();
          void change("PUT", form.email.trim(), { project: form.project || null, role: form.role });
        }}
      >
        <label>
          Email <input type="email" required value={form.email} onInput={(e) => setForm({ ...form, email: e.currentTarget.value })} />
        </label>
        <label>
          Project
          <select value={form.project} onChange={(e) => setForm({ ...form, project: e.currentTarget.value })}>
            <option value="">every project</option>
            {(projects.data?.items ?? []).map((p) => (
              <option key={p.slug} value={p.slug}>
                {p.slug}
              </option>
            ))}
          </select>
        </label>
        <label>
          Role
          <select value={form.role} onChange={(e) => setForm({ ...form, role: e.currentTarget.value as RoleView["role"] })}>
            <option value="read">read</option>
            <option value="run">run</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <button type="submit" class="btn btn-primary btn-sm">
          Grant
        </button>
      </form>
      <ErrorNotice error={error ?? users.error} />
      {users.data && items.length === 0 && <Empty>Nobody has signed in yet. People appear here on their first sign-in through Cloudflare Access, with no roles.</Empty>}
      {items.length > 0 && (
        <DataTable class="table stack" columns={["Person", "Roles", "First seen"]} attrs={{ "data-table": "people" }}>
          {items.map((u) => (
            <tr key={u.email} data-email={u.email}>
              <td class="strong">{u.email}</td>
              <td data-label="Roles">
                {u.roles.length === 0 && <span class="muted">no rights</span>}
                {u.roles.map((r) => (
                  <span key={`${r.project}`} class="chip">
                    {r.role} on {where(r.project)}{" "}
                    <button type="button" class="btn btn-ghost btn-sm" aria-label={`Remove ${r.role} on ${where(r.project)} from ${u.email}`} onClick={() => void change("DELETE", u.email, r)}>
                      ×
                    </button>
                  </span>
                ))}
              </td>
              <TimeCell label="First seen" at={u.createdAt} />
            </tr>
          ))}
        </DataTable>
      )}
    </>
  );
}
