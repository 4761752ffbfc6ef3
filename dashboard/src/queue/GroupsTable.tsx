/**
 * Concurrency groups in use (GET /api/v1/queue/groups): who holds each group and who waits for
 * it, in the order they will get it. Their jobs are not in the queue above: they wait, holding
 * no agent, until their group is theirs (docs/state-machine.md, "Concurrency groups").
 */
import type { ConcurrencyGroupView } from "../../../domain/concurrency-groups.ts";
import { Link } from "../router.tsx";

export type ActiveGroup = ConcurrencyGroupView & { project: string };

export function GroupsTable({ groups }: { groups: ActiveGroup[] }) {
  return (
    <div class="table-wrap">
      <table class="table queue-table">
        <thead>
          <tr>
            <th>Group</th>
            <th>Held by</th>
            <th>Waiting, in order</th>
          </tr>
        </thead>
        <tbody>
          {groups.map((g) => (
            <tr key={`${g.project}/${g.group}`} data-group={g.group}>
              <td>
                <span class="strong">{g.group}</span>
                <div class="muted small">{g.project}</div>
              </td>
              <td>{g.holder ? <Link href={`/runs/${g.holder.runId}`}>{g.holder.label}</Link> : "—"}</td>
              <td>
                {g.waiting.map((w, i) => (
                  <span key={w.runId + w.label}>
                    {i > 0 && ", "}
                    <Link href={`/runs/${w.runId}`}>{w.label}</Link>
                  </span>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
