/**
 * The values a job's baseline gates compare against (domain/pipeline/gates.ts): each gated
 * metric in the job's last successful (SUCCESS or WARNING) attempts of earlier runs of the same
 * pipeline on the same branch, newest first, read from the D1 projection when the job ends.
 * A read that fails leaves the baseline empty: too few runs, so the gate is not evaluated (the
 * job's end is never held up by the history).
 */
import type { MetricGate } from "../../domain/pipeline/gates.ts";
import type { RunState } from "../../domain/run-engine/model.ts";

export async function gateBaselines(db: D1Database, state: RunState, jobKey: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  const gates: MetricGate[] = (state.run.definition.jobs.find((j) => j.key === jobKey)?.gates ?? []).filter((g) => g.baseline);
  if (gates.length === 0) return out;
  const statement = db.prepare(
    `SELECT s.metrics AS metrics FROM step_runs s
       JOIN job_attempts ja ON ja.id = s.job_attempt_id
       JOIN jobs j ON j.id = ja.job_id
       JOIN runs r ON r.id = s.run_id
     WHERE r.pipeline_id = ?1 AND r.branch IS ?2 AND r.id != ?3 AND j.key = ?4 AND s.step_id = ?5
       AND ja.status IN ('SUCCESS', 'WARNING')
     ORDER BY ja.ended_at DESC LIMIT ?6`,
  );
  try {
    const results = await db.batch<{ metrics: string }>(
      gates.map((g) => statement.bind(state.run.pipelineId, state.run.branch, state.run.id, jobKey, g.step, g.baseline!.runs)),
    );
    gates.forEach((g, i) => {
      const values: number[] = [];
      for (const row of results[i]?.results ?? []) {
        const metrics = JSON.parse(row.metrics) as { name?: unknown; value?: unknown }[];
        const found = metrics.find((m) => m.name === g.name);
        if (typeof found?.value === "number") values.push(found.value);
      }
      out.set(g.metric, values);
    });
  } catch (error) {
    console.warn(`gate baselines of job ${jobKey}: not read (${String(error)}); baseline gates are skipped`);
  }
  return out;
}
