/**
 * The audit log (admins of every project): who changed what, triggered, cancelled or re-ran
 * which run, newest first, filtered by project, actor or action (all in the URL).
 */
import type { AuditEventView, Page } from "../../../domain/views.ts";
import { withQuery } from "../api/client.ts";
import { Empty } from "../components/Empty.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { Pager, pageTrail } from "../components/Pager.tsx";
import { TimeAgo } from "../components/TimeAgo.tsx";
import { useResource } from "../hooks/use-resource.ts";
import { Link, setQuery, useLocation } from "../router.tsx";

const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function AuditPage() {
  const { query } = useLocation();
  const trail = pageTrail(query);
  const filter = { project: query.get("project"), actor: query.get("actor"), action: query.get("action") };
  const events = useResource<Page<AuditEventView>>(withQuery("/api/v1/audit", { ...filter, cursor: trail.at(-1) ?? null }));
  const items = events.data?.items ?? [];
  const field = (name: keyof typeof filter, label: string, placeholder: string) => (
    <label>
      {label}
      <input
        type="search"
        placeholder={placeholder}
        value={filter[name] ?? ""}
        onChange={(e) => setQuery({ [name]: e.currentTarget.value.trim() || null, pages: null })}
      />
    </label>
  );
  return (
    <>
      <PageHeader title="Audit log" sub="Every change and every action on runs, with who did it and from where." />
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        {field("project", "Project", "slug")}
        {field("actor", "Actor", "email or token id")}
        {field("action", "Action", "run.trigger")}
      </form>
      <ErrorNotice error={events.error} />
      {events.data && items.length === 0 && <Empty>No events match.</Empty>}
      {items.length > 0 && (
        <div class="table-wrap">
          <table class="table stack" data-table="audit">
            <thead>
              <tr>
                <th>When</th>
                <th>Who</th>
                <th>Action</th>
                <th>Project</th>
                <th>Target</th>
                <th>IP</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.id} data-action={e.action}>
                  <td class="nowrap">
                    <TimeAgo at={e.at} />
                  </td>
                  <td data-label="Who" title={`${e.actor.kind} ${e.actor.id}`}>
                    <span class="chip">{e.actor.kind}</span> {e.actor.name}
                  </td>
                  <td class="mono" data-label="Action">
                    {e.action}
                  </td>
                  <td data-label="Project">{e.project ?? <span class="muted">—</span>}</td>
                  <td class="mono" data-label="Target">
                    {e.target && RUN_ID.test(e.target) ? <Link href={`/runs/${e.target}`}>{e.target}</Link> : (e.target ?? "—")}
                  </td>
                  <td class="mono" data-label="IP">
                    {e.ip ?? "—"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager trail={trail} next={events.data?.cursor ?? null} />
    </>
  );
}
