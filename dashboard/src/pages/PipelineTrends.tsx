/**
 * The pipeline page's trends: the last runs from GET …/pipelines/:pipeline/trends, drawn by
 * trends/TrendCharts.tsx, which is loaded on demand (its own chunk) like the editor.
 */
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Empty } from "../components/Empty.tsx";
import { useResource } from "../hooks/use-resource.ts";
import type { TrendCharts as Charts, TrendRun } from "../trends/TrendCharts.tsx";

export function PipelineTrends({ project, pipeline }: { project: string; pipeline: string }) {
  const trends = useResource<{ runs: TrendRun[] }>(`/api/v1/projects/${project}/pipelines/${encodeURIComponent(pipeline)}/trends?limit=30`, { pollMs: 10_000 });
  const [TrendCharts, setCharts] = useState<ComponentType<Parameters<typeof Charts>[0]> | null>(null);
  useEffect(() => {
    if (TrendCharts || !trends.data?.runs.length) return;
    void import("../trends/TrendCharts.tsx").then((m) => setCharts(() => m.TrendCharts));
  }, [trends.data, TrendCharts]);

  return (
    <section class="section" aria-labelledby="trends-title">
      <h2 id="trends-title">Trends</h2>
      {trends.data && trends.data.runs.length === 0 && <Empty>No run yet: the charts appear after the first one.</Empty>}
      {trends.data && TrendCharts && <TrendCharts pipeline={pipeline} runs={trends.data.runs} />}
    </section>
  );
}
