/**
 * A queue, live: pending jobs in claim order (drag to reorder — saved with
 * POST /api/v1/queue/reorder, so everyone watching sees the new order) and running jobs;
 * select several and cancel them at once (POST /api/v1/queue/cancel). `?queue=` picks the queue
 * (default `default`, live over its WebSocket); "All queues" shows every queue (refreshed each second).
 */
import { useMemo } from "preact/hooks";
import type { JobInsight } from "../../../domain/queue-insight.ts";
import { useResource } from "../hooks/use-resource.ts";
import { api } from "../api/client.ts";
import type { QueueView } from "../api/types.ts";
import { CancelSelectedButton, ConfirmCancel } from "../components/BulkCancel.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { LiveBadge } from "../components/LiveBadge.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { ALL_QUEUES, QueueSelect } from "../components/QueueSelect.tsx";
import { setQuery, useLocation } from "../router.tsx";
import { useBulkCancel } from "../hooks/use-bulk-cancel.ts";
import { useNow } from "../hooks/use-now.ts";
import { PendingTable } from "../queue/PendingTable.tsx";
import { RunningTable } from "../queue/RunningTable.tsx";
import { useQueueFeed } from "../queue/use-queue-feed.ts";
import { can, useSession } from "../session.ts";

export function QueuePage() {
  const session = useSession();
  const { query } = useLocation();
  const chosenQueue = query.get("queue") || "default";
  const every = chosenQueue === ALL_QUEUES;
  const { queue, error, feed, hold, override } = useQueueFeed(every ? null : chosenQueue);
  const bulk = useBulkCancel({
    cancel: async () => {
      if (chosen.length === 0) return;
      await api("POST", "/api/v1/queue/cancel", { jobs: chosen });
      bulk.setSelected(new Set());
    },
    after: () => feed?.refresh(),
  });
  const { selected, setSelected, toggle } = bulk;
  const now = useNow(true);
  const mayRun = can(session, "run");
  // Why each job waits: recomputed by the server from the queue, the agents and D1's durations.
  const insightPath = `/api/v1/queue/insight${every ? "" : `?queue=${encodeURIComponent(chosenQueue)}`}`;
  const insightRes = useResource<{ items: JobInsight[] }>(insightPath, { pollMs: 3000 });
  const insight = useMemo(() => new Map((insightRes.data?.items ?? []).map((i) => [i.jobAttemptId, i])), [insightRes.data]);

  const move = async (id: string, target: number) => {
    if (!queue) return;
    const others = queue.pending.filter((e) => e.jobAttemptId !== id);
    const moved = queue.pending.find((e) => e.jobAttemptId === id);
    if (!moved || others.length === 0) return;
    const anchor = target < others.length ? { before: others[target]!.jobAttemptId } : { after: others[others.length - 1]!.jobAttemptId };
    const body = { job: id, ...anchor, queue: moved.queue };
    const reordered: QueueView = { ...queue, pending: [...others.slice(0, target), moved, ...others.slice(target)] };
    override(reordered);
    bulk.setError(null);
    try {
      await api("POST", "/api/v1/queue/reorder", body);
    } catch (e) {
      bulk.setError(e);
    }
    feed?.refresh();
  };

  // Selections of jobs that have left the queue are forgotten.
  const present = new Set([...(queue?.pending ?? []), ...(queue?.running ?? [])].map((e) => e.jobAttemptId));
  const chosen = [...selected].filter((id) => present.has(id));

  return (
    <>
      <PageHeader
        title="Queue"
        sub={
          queue && (
            <>
              {queue.pending.length} pending · {queue.running.length} running
              <LiveBadge mode={feed?.mode} />
            </>
          )
        }
        actions={mayRun && <CancelSelectedButton count={chosen.length} busy={bulk.busy} onClick={bulk.ask} />}
      />
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <QueueSelect value={chosenQueue} onChange={(q) => setQuery({ queue: q === "default" ? null : q })} />
      </form>
      <ErrorNotice error={bulk.error ?? error} />
      {queue && (
        <>
          <section class="section" aria-label="Pending jobs">
            <h2>Pending</h2>
            <PendingTable
              entries={queue.pending}
              insight={insight}
              now={now}
              selected={selected}
              onToggle={toggle}
              onToggleAll={(on) =>
                setSelected((s) => {
                  const next = new Set(s);
                  for (const e of queue.pending) on ? next.add(e.jobAttemptId) : next.delete(e.jobAttemptId);
                  return next;
                })
              }
              onMove={move}
              onDragging={hold}
              // Claim order is per queue: the merged view of every queue is not reordered.
              mayReorder={mayRun && !every}
            />
          </section>
          <section class="section" aria-label="Running jobs">
            <h2>Running</h2>
            <RunningTable entries={queue.running} now={now} selected={selected} onToggle={toggle} />
          </section>
        </>
      )}
      <ConfirmCancel open={bulk.confirming} noun="job" count={chosen.length} note="The jobs that need them will not run." onClose={bulk.close} onConfirm={bulk.confirm}>
        {[...(queue?.pending ?? []), ...(queue?.running ?? [])]
          .filter((e) => chosen.includes(e.jobAttemptId))
          .map((e) => (
            <li key={e.jobAttemptId}>
              <strong>{e.jobKey}</strong> <span class="muted">· {e.project} / {e.pipeline} #{e.runNumber}</span>
            </li>
          ))}
      </ConfirmCancel>
    </>
  );
}
