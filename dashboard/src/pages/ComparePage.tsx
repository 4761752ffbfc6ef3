/**
 * Two runs side by side (`/runs/:run/compare?with=`): pipeline version, params, branch, commit,
 * per-job and per-step status and duration, outputs and metrics. A row whose values differ is
 * marked (a ≠ sign and a band, not colour alone); durations show the change instead, since two
 * runs never take exactly as long. The other run defaults to the last successful run of the
 * same pipeline and branch; a select picks any of the pipeline's last 30 runs.
 */
import type { JobAttemptView, RunSummaryView, RunView } from "../api/types.ts";
import { Empty } from "../components/Empty.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { useResource } from "../hooks/use-resource.ts";
import { formatDuration, shortSha } from "../lib/format.ts";
import { statusLook } from "../lib/status.ts";
import { Link, setQuery, useLocation } from "../router.tsx";

interface Row {
  group: string;
  label: string;
  a: string;
  b: string;
  /** Durations: shown with their change, not marked as a difference. */
  delta?: string;
}

const dash = "—";

function latestAttempts(run: RunView): Map<string, JobAttemptView> {
  const attempt = run.attempts[run.attempt - 1] ?? run.attempts[run.attempts.length - 1];
  const out = new Map<string, JobAttemptView>();
  for (const job of attempt?.jobs ?? []) {
    const last = job.attempts[job.attempts.length - 1];
    if (last) out.set(job.key, last);
  }
  return out;
}

function durationRow(group: string, label: string, a: number | null | undefined, b: number | null | undefined): Row {
  const delta = a != null && b != null ? `${a >= b ? "+" : "−"}${formatDuration(Math.abs(a - b))}` : undefined;
  return { group, label, a: a == null ? dash : formatDuration(a), b: b == null ? dash : formatDuration(b), delta };
}

/** Every fact of both runs, in one list of rows (a fact missing from one run shows —). */
export function compareRows(a: RunView, b: RunView): Row[] {
  const rows: Row[] = [
    { group: "Run", label: "Status", a: statusLook(a.status).label, b: statusLook(b.status).label },
    // A version id is a UUIDv7: its first digits are a timestamp shared by versions stored within
    // a minute, its last ones random — those tell two versions apart.
    { group: "Run", label: "Pipeline version", a: `…${a.pipelineVersionId.slice(-8)}`, b: `…${b.pipelineVersionId.slice(-8)}` },
    { group: "Run", label: "Branch", a: a.branch ?? dash, b: b.branch ?? dash },
    { group: "Run", label: "Commit", a: shortSha(a.commit), b: shortSha(b.commit) },
    { group: "Run", label: "Trigger", a: a.trigger, b: b.trigger },
    durationRow("Run", "Duration", a.durationMs, b.durationMs),
  ];
  for (const name of [...new Set([...Object.keys(a.params), ...Object.keys(b.params)])].sort()) {
    rows.push({ group: "Params", label: name, a: a.params[name] ?? dash, b: b.params[name] ?? dash });
  }
  const ja = latestAttempts(a);
  const jb = latestAttempts(b);
  for (const key of [...new Set([...ja.keys(), ...jb.keys()])]) {
    const x = ja.get(key);
    const y = jb.get(key);
    const group = `Job ${key}`;
    rows.push({ group, label: "Status", a: x ? statusLook(x.status, x.reason).label : dash, b: y ? statusLook(y.status, y.reason).label : dash });
    rows.push(durationRow(group, "Duration", x?.durationMs, y?.durationMs));
    const steps = [...new Set([...(x?.steps ?? []), ...(y?.steps ?? [])].map((s) => s.id))];
    for (const id of steps) {
      const sx = x?.steps.find((s) => s.id === id);
      const sy = y?.steps.find((s) => s.id === id);
      rows.push(durationRow(group, `${id}: duration`, sx?.durationMs, sy?.durationMs));
      for (const out of [...new Set([...Object.keys(sx?.outputs ?? {}), ...Object.keys(sy?.outputs ?? {})])].sort()) {
        rows.push({ group, label: `${id}: output ${out}`, a: sx?.outputs[out] ?? dash, b: sy?.outputs[out] ?? dash });
      }
      for (const m of [...new Set([...(sx?.metrics ?? []), ...(sy?.metrics ?? [])].map((m) => m.name))].sort()) {
        const vx = sx?.metrics.find((v) => v.name === m)?.value;
        const vy = sy?.metrics.find((v) => v.name === m)?.value;
        rows.push({ group, label: `${id}: metric ${m}`, a: vx === undefined ? dash : String(vx), b: vy === undefined ? dash : String(vy) });
      }
    }
  }
  return rows;
}

export function ComparePage({ runId }: { runId: string }) {
  const { query } = useLocation();
  const run = useResource<RunView>(`/api/v1/runs/${runId}`);
  const r = run.data;
  const recent = useResource<{ items: RunSummaryView[] }>(r ? `/api/v1/runs?project=${r.project}&pipeline=${encodeURIComponent(r.pipeline)}&limit=30` : null);
  const candidates = (recent.data?.items ?? []).filter((x) => x.id !== runId);
  const fallback = candidates.find((x) => (x.status === "SUCCESS" || x.status === "WARNING") && x.branch === r?.branch) ?? null;
  const otherId = query.get("with") || fallback?.id || null;
  const other = useResource<RunView>(otherId ? `/api/v1/runs/${otherId}` : null);
  const rows = r && other.data ? compareRows(r, other.data) : [];
  const differing = rows.filter((row) => row.delta === undefined && row.a !== row.b).length;

  return (
    <>
      <PageHeader
        title={r ? `Compare ${r.pipeline} #${r.number}` : "Compare runs"}
        sub={r && <Link href={`/runs/${r.id}`}>Back to run #{r.number}</Link>}
      />
      <ErrorNotice error={run.error ?? recent.error ?? other.error} />
      {r && (
        <form class="filters" onSubmit={(e) => e.preventDefault()}>
          <label class="field field-inline">
            <span>Compare with</span>
            <select value={otherId ?? ""} onChange={(e) => setQuery({ with: e.currentTarget.value || null })}>
              {!otherId && <option value="">Pick a run…</option>}
              {candidates.map((x) => (
                <option key={x.id} value={x.id}>
                  #{x.number} · {statusLook(x.status).label} · {x.branch ?? "no branch"}
                  {x.id === fallback?.id ? " (last success on this branch)" : ""}
                </option>
              ))}
            </select>
          </label>
        </form>
      )}
      {r && !otherId && recent.data && <Empty>No other run of {r.pipeline} succeeded on this branch: pick one to compare with.</Empty>}
      {r && other.data && (
        <section class="section" aria-label="Differences">
          <p class="compare-summary" role="status">
            {differing === 0 ? "No difference besides durations." : `${differing} difference${differing === 1 ? "" : "s"} (marked ≠).`}
          </p>
          <div class="table-wrap">
            <table class="table compare-table">
              <thead>
                <tr>
                  <th>What</th>
                  <th>
                    <Link href={`/runs/${r.id}`}>#{r.number}</Link> (this run)
                  </th>
                  <th>
                    <Link href={`/runs/${other.data.id}`}>#{other.data.number}</Link>
                  </th>
                  <th class="compare-mark-col">
                    <span class="sr-only">Differs</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((row, i) => {
                  const differs = row.delta === undefined && row.a !== row.b;
                  const first = i === 0 || rows[i - 1]!.group !== row.group;
                  return (
                    <tr key={`${row.group}/${row.label}`} class={`${differs ? "is-different" : ""}${first ? " group-start" : ""}`} data-compare-row={`${row.group}/${row.label}`} data-differs={differs ? "true" : undefined}>
                      <th scope="row">
                        {first && <div class="muted small">{row.group}</div>}
                        {row.label}
                      </th>
                      <td class="mono">{row.a}</td>
                      <td class="mono">{row.b}</td>
                      <td class="compare-mark">{differs ? <span aria-label="differs">≠</span> : row.delta ? <span class="muted small">{row.delta}</span> : ""}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </>
  );
}
