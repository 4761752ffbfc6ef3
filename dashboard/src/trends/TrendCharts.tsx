/**
 * A pipeline's trends, drawn as SVG (loaded on demand by pages/PipelineTrends.tsx): the last
 * runs' durations coloured by outcome, and one line per step metric. Each chart is an image
 * (`role="img"`, its `aria-label` saying what it plots and the range) with the same numbers in
 * a table under "Show as table"; clicking a point opens its run.
 */
import type { State } from "../../../domain/states.ts";
import { formatDuration } from "../lib/format.ts";
import { statusLook } from "../lib/status.ts";
import { Link, navigate } from "../router.tsx";

export interface TrendRun {
  id: string;
  number: number;
  status: State;
  branch: string | null;
  createdAt: string;
  durationMs: number | null;
  metrics: { job: string; step: string; name: string; value: number }[];
}

const W = 560;
const H = 160;
const PAD = { left: 56, right: 12, top: 12, bottom: 24 };

interface Point {
  run: TrendRun;
  value: number;
}

function Chart({ title, label, points, format, tone }: { title: string; label: string; points: Point[]; format(v: number): string; tone?: (r: TrendRun) => string }) {
  const values = points.map((p) => p.value);
  const max = Math.max(...values, 0) || 1;
  const min = Math.min(...values, 0);
  const x = (i: number) => PAD.left + (points.length === 1 ? (W - PAD.left - PAD.right) / 2 : (i * (W - PAD.left - PAD.right)) / (points.length - 1));
  const y = (v: number) => PAD.top + (1 - (v - min) / (max - min || 1)) * (H - PAD.top - PAD.bottom);
  const path = points.map((p, i) => `${i === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  return (
    <figure class="trend" data-chart={title}>
      <figcaption class="trend-title">{title}</figcaption>
      <svg class="trend-svg" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label}>
        <line class="trend-axis" x1={PAD.left} x2={W - PAD.right} y1={y(min)} y2={y(min)} />
        <text class="trend-tick" x={PAD.left - 6} y={y(max)} text-anchor="end" dominant-baseline="central">
          {format(max)}
        </text>
        <text class="trend-tick" x={PAD.left - 6} y={y(min)} text-anchor="end" dominant-baseline="central">
          {format(min)}
        </text>
        <path class="trend-line" d={path} />
        {points.map((p, i) => (
          <circle
            key={p.run.id}
            class={`trend-point tone-${tone ? tone(p.run) : "neutral"}`}
            data-run={p.run.id}
            cx={x(i)}
            cy={y(p.value)}
            r={5}
            onClick={() => navigate(`/runs/${p.run.id}`)}
          >
            <title>{`#${p.run.number}: ${format(p.value)}`}</title>
          </circle>
        ))}
        {points.map((p, i) => (
          <text key={p.run.id} class="trend-tick" x={x(i)} y={H - 6} text-anchor="middle">
            {points.length <= 12 || i % Math.ceil(points.length / 12) === 0 ? `#${p.run.number}` : ""}
          </text>
        ))}
      </svg>
      <details class="trend-table">
        <summary>Show as table</summary>
        <table class="table">
          <caption class="sr-only">{label}</caption>
          <thead>
            <tr>
              <th>Run</th>
              <th>Status</th>
              <th class="num">{title}</th>
            </tr>
          </thead>
          <tbody>
            {points.map((p) => (
              <tr key={p.run.id}>
                <td>
                  <Link href={`/runs/${p.run.id}`}>#{p.run.number}</Link>
                </td>
                <td>{statusLook(p.run.status).label}</td>
                <td class="num">{format(p.value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

const plain = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
const range = (values: number[], format: (v: number) => string) => `from ${format(Math.min(...values))} to ${format(Math.max(...values))}`;

export function TrendCharts({ pipeline, runs }: { pipeline: string; runs: TrendRun[] }) {
  const timed = runs.filter((r) => r.durationMs !== null).map((r) => ({ run: r, value: r.durationMs! }));
  const passed = runs.filter((r) => r.status === "SUCCESS" || r.status === "WARNING").length;
  const ended = runs.filter((r) => ["SUCCESS", "WARNING", "FAILED", "KILLED"].includes(r.status)).length;
  const series = new Map<string, Point[]>();
  for (const run of runs) {
    for (const m of run.metrics) {
      const key = `${m.job}.${m.step}.${m.name}`;
      series.set(key, [...(series.get(key) ?? []), { run, value: m.value }]);
    }
  }
  return (
    <div class="trends">
      <p class="trend-summary">
        {passed} of {ended} ended runs succeeded (the last {runs.length} runs).
      </p>
      {timed.length > 0 && (
        <Chart
          title="Duration"
          label={`Duration of the last ${timed.length} runs of ${pipeline}, ${range(timed.map((p) => p.value), formatDuration)}; each point coloured by its outcome (${passed} succeeded, ${ended - passed} did not)`}
          points={timed}
          format={formatDuration}
          tone={(r) => statusLook(r.status).tone}
        />
      )}
      {[...series].map(([key, points]) => (
        <Chart key={key} title={key} label={`Metric ${key} over the last ${points.length} runs of ${pipeline}, ${range(points.map((p) => p.value), plain)}`} points={points} format={plain} />
      ))}
    </div>
  );
}
