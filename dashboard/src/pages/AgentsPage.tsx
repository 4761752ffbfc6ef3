/**
 * Agents of every queue (or the one `?queue=` picks): name, queue, labels, version (older than
 * this server's agent release: flagged), state (idle, busy, lost…), current job, last seen.
 */
import { AGENT_VERSION, isOlderAgentVersion } from "../../../domain/agent-release.ts";
import type { AgentView, Page } from "../api/types.ts";
import { DataTable, TimeCell } from "../components/DataTable.tsx";
import { Empty } from "../components/Empty.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { withQuery } from "../api/client.ts";
import { ALL_QUEUES, QueueSelect } from "../components/QueueSelect.tsx";
import { useResource } from "../hooks/use-resource.ts";
import { Link, setQuery, useLocation } from "../router.tsx";

const TONE: Record<AgentView["state"], string> = { idle: "succeeded", busy: "running", lost: "failed", stopped: "cancelled", revoked: "cancelled" };

export function AgentsPage() {
  const { query } = useLocation();
  const queue = query.get("queue") || ALL_QUEUES;
  const agents = useResource<Page<AgentView>>(withQuery("/api/v1/agents", { queue: queue === ALL_QUEUES ? null : queue }), { pollMs: 3000 });
  const items = agents.data?.items ?? [];
  return (
    <>
      <PageHeader title="Agents" sub={agents.data && `${items.filter((a) => a.state === "idle" || a.state === "busy").length} connected of ${items.length}`} />
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <QueueSelect value={queue} onChange={(q) => setQuery({ queue: q === ALL_QUEUES ? null : q })} />
      </form>
      <ErrorNotice error={agents.error} />
      {agents.data && items.length === 0 && (
        <Empty>
          No agents yet. Start one with <code>npm run agent -- --url {location.origin} --token &lt;registration token&gt; --labels linux</code>; a
          registration token comes from <code>POST /api/v1/agent-tokens</code>.
        </Empty>
      )}
      {items.length > 0 && (
        <DataTable class="table agents-table stack" columns={["Agent", "State", "Queue", "Labels", "Current job", "Version", "Last seen"]}>
          {items.map((a) => (
            <tr key={a.id} data-agent={a.name} data-state={a.state}>
              <td>
                <div class="strong">{a.name}</div>
                {a.hostname && a.hostname !== a.name && <div class="muted small">{a.hostname}</div>}
              </td>
              <td data-label="State">
                <span class={`badge tone-${TONE[a.state]}`}>
                  <span class="status-dot" aria-hidden="true" />
                  {a.state}
                </span>
              </td>
              <td class="mono" data-label="Queue">
                {a.queue}
              </td>
              <td data-label="Labels">
                {a.labels.map((l) => (
                  <span key={l} class="chip">
                    {l}
                  </span>
                ))}
              </td>
              <td data-label="Current job">
                {a.jobs.length === 0 && <span class="muted">—</span>}
                {a.jobs.map((j) => (
                  <div key={j.jobAttemptId}>
                    <Link href={`/runs/${j.runId}?job=${encodeURIComponent(j.job)}`}>
                      {j.project} / {j.pipeline} #{j.runNumber} · {j.job}
                    </Link>
                  </div>
                ))}
              </td>
              <td class="mono" data-label="Version" data-outdated={isOlderAgentVersion(a.version) || undefined}>
                {a.version}
                {isOlderAgentVersion(a.version) && (
                  <span class="badge tone-warning outdated" title={`Older than this server's agent release, ${AGENT_VERSION}: upgrade it (docs/agent.md)`}>
                    upgrade to {AGENT_VERSION}
                  </span>
                )}
              </td>
              <TimeCell label="Last seen" at={a.lastSeenAt} />
            </tr>
          ))}
        </DataTable>
      )}
    </>
  );
}
