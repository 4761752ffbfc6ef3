/**
 * Deleting runs and artifacts, and retention (issue 18): DELETE removes a run's R2 objects, rows
 * and object storage; the cron's retention tick works in bounded batches (10,000 runs with a
 * fake clock), expires logs (410 `expired`) and artifacts (marked), and trims webhook deliveries.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { job, sha256 } from "./agent-client.ts";
import { api } from "./api-client.ts";
import { agentWith, claimNext } from "./run-helpers.ts";
import { DAY_MS } from "../../domain/retention.ts";
import { retentionTick } from "../../worker/services/retention.ts";
import { deletePrefix, runPrefixes } from "../../durable-objects/run-object/removal.ts";

const removeR2Only = async (e: { ARTIFACTS: R2Bucket }, runId: string) => {
  await deletePrefix(e.ARTIFACTS, runPrefixes(runId).artifacts);
  await deletePrefix(e.ARTIFACTS, runPrefixes(runId).logs);
  return { ok: true };
};

const onePipeline = (label: string) => `name: build\njobs:\n  work:\n    runs-on: [${label}]\n    steps:\n      - id: s\n        run: echo hi\n`;

/** A project with one run whose only job is claimed; finish() ends it. */
async function claimedRun(project: string) {
  await api("POST", "/api/v1/projects", { body: { slug: project } });
  await api("PUT", `/api/v1/projects/${project}/pipelines/build`, { raw: onePipeline(project), headers: { "content-type": "text/plain" } });
  const agent = await agentWith(project);
  const run = (await api("POST", `/api/v1/projects/${project}/pipelines/build/runs`, { body: {} })).json as { id: string };
  const claimed = await claimNext(agent.token);
  const j = job(claimed.token, claimed.job.attemptId);
  const report = new TextEncoder().encode("report");
  expect((await j.artifact("report.txt", report, await sha256(report))).status).toBe(201);
  expect((await j.log(0, 0, new TextEncoder().encode("hello\n"))).status).toBe(200);
  return {
    runId: run.id,
    finish: async () => {
      await j.step("s", { attempt: 1, status: "RUNNING" });
      await j.step("s", { attempt: 1, status: "SUCCESS", exitCode: 0 });
      expect((await j.finish({ status: "SUCCESS" })).status).toBe(200);
    },
  };
}

const count = async (sql: string, ...binds: unknown[]) => (await env.DB.prepare(sql).bind(...binds).first<{ n: number }>())!.n;

describe("DELETE /api/v1/runs/:run and /api/v1/artifacts/:artifact", () => {
  it("refuses an active run (409), then removes the ended run's R2 objects, rows and object", async () => {
    const { runId, finish } = await claimedRun("delete-run");
    const active = await api("DELETE", `/api/v1/runs/${runId}`);
    expect(active.status).toBe(409);
    expect(active.json.error.code).toBe("run_active");
    await finish();
    // A log archive as the run's object writes it (the real one is written seconds after the job ends).
    await env.ARTIFACTS.put(`logs/${runId}/archived.log`, "hello\n");
    expect((await env.ARTIFACTS.list({ prefix: `artifacts/${runId}/` })).objects).toHaveLength(1);
    const reader = await api("POST", "/api/v1/tokens", { body: { name: "reader", scopes: ["run"] } });
    expect((await api("DELETE", `/api/v1/runs/${runId}`, { token: reader.json.token })).status).toBe(403);

    const deleted = await api("DELETE", `/api/v1/runs/${runId}`);
    expect(deleted.status, deleted.text).toBe(200);
    expect(deleted.json.objects).toBe(2);
    expect((await env.ARTIFACTS.list({ prefix: `artifacts/${runId}/` })).objects).toEqual([]);
    expect((await env.ARTIFACTS.list({ prefix: `logs/${runId}/` })).objects).toEqual([]);
    for (const table of ["runs", "jobs", "job_attempts", "step_runs", "artifacts", "run_attempts"]) {
      expect(await count(`SELECT count(*) AS n FROM ${table} WHERE ${table === "runs" ? "id" : "run_id"} = ?`, runId), table).toBe(0);
    }
    expect((await api("GET", `/api/v1/runs/${runId}`)).status).toBe(404);
    expect((await api("DELETE", `/api/v1/runs/${runId}`)).status).toBe(404);
  });

  it("deletes one artifact: bytes and row", async () => {
    const { runId, finish } = await claimedRun("delete-artifact");
    await finish();
    const [artifact] = (await api("GET", `/api/v1/artifacts?run=${runId}`)).json.items;
    const runner = await api("POST", "/api/v1/tokens", { body: { name: "runner", scopes: ["run"] } });
    expect((await api("DELETE", `/api/v1/artifacts/${artifact.id}`, { token: runner.json.token })).status).toBe(403);
    expect((await api("DELETE", `/api/v1/artifacts/${artifact.id}`)).status).toBe(200);
    expect((await env.ARTIFACTS.list({ prefix: `artifacts/${runId}/` })).objects).toEqual([]);
    expect((await api("GET", `/api/v1/artifacts/${artifact.id}`)).status).toBe(404);
  });
});

describe("retention", () => {
  it("deletes 10,000 old runs over bounded ticks, never more than the batch per tick, and keeps the recent ones", async () => {
    await api("POST", "/api/v1/projects", { body: { slug: "retention-bulk" } });
    const project = (await env.DB.prepare("SELECT id FROM projects WHERE slug = 'retention-bulk'").first<{ id: string }>())!.id;
    await env.DB.prepare("UPDATE projects SET retention = ? WHERE id = ?").bind(JSON.stringify({ runs: 30 }), project).run();
    const now = Date.UTC(2027, 0, 1);
    const old = now - 40 * DAY_MS;
    const rows = (from: number, to: number, createdAt: number) =>
      Array.from({ length: to - from }, (_, k) => {
        const i = from + k;
        return `('bulk-${String(i).padStart(6, "0")}', '${project}', 'retention-bulk', 'p', 'build', 'v', ${i + 1}, 'api', '{}', 'SUCCESS', 1, ${createdAt + i}, ${createdAt + i})`;
      }).join(",");
    const insert = (values: string) =>
      env.DB.prepare(
        `INSERT INTO runs (id, project_id, project, pipeline_id, pipeline, pipeline_version_id, number, trigger, params, status, attempt, created_at, updated_at) VALUES ${values}`,
      );
    const statements = [];
    for (let i = 0; i < 10_000; i += 500) statements.push(insert(rows(i, i + 500, old)));
    statements.push(insert(rows(10_000, 10_050, now - DAY_MS)));
    await env.DB.batch(statements);
    expect(await count("SELECT count(*) AS n FROM runs WHERE project_id = ?", project)).toBe(10_050);

    const batch = 1000;
    const perTick: number[] = [];
    for (let tick = 0; tick < 20; tick++) {
      // These rows were inserted bare (no run object): remove only their R2 objects, as destroy() would.
      const report = await retentionTick(env, now + tick * 60_000, { batch, removeRunObject: removeR2Only });
      perTick.push(report.runs);
      expect(report.runs).toBeLessThanOrEqual(batch);
      expect(await count("SELECT count(*) AS n FROM runs WHERE project_id = ?", project)).toBe(10_050 - perTick.reduce((a, b) => a + b, 0));
      if (report.runs === 0) break;
    }
    expect(perTick).toEqual([...Array(10).fill(1000), 0]);
    expect(await count("SELECT count(*) AS n FROM runs WHERE project_id = ? AND created_at < ?", project, now - 30 * DAY_MS)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM runs WHERE project_id = ?", project)).toBe(50);
  }, 120_000);

  it("expires logs (410 expired) and artifacts (bytes gone, row marked), and trims old webhook deliveries", async () => {
    const { runId, finish } = await claimedRun("retention-expire");
    await finish();
    await env.DB.prepare("UPDATE projects SET retention = ? WHERE slug = 'retention-expire'").bind(JSON.stringify({ logs: 1, artifacts: 1 })).run();
    await env.DB.prepare(
      "INSERT INTO webhook_deliveries (id, project_id, source, status, runs, received_at) VALUES ('old-delivery', 'x', 'generic', 'ignored', '[]', 0)",
    ).run();
    const later = Date.now() + 2 * DAY_MS;
    const report = await retentionTick(env, later);
    expect(report).toMatchObject({ logs: 1, artifacts: 1 });
    expect(report.webhookDeliveries).toBeGreaterThanOrEqual(1);
    const log = await api("GET", `/api/v1/runs/${runId}/jobs/work/log`);
    expect(log.status).toBe(410);
    expect(log.json.error.code).toBe("expired");
    expect((await env.ARTIFACTS.list({ prefix: `artifacts/${runId}/` })).objects).toEqual([]);
    expect(await count("SELECT count(*) AS n FROM artifacts WHERE run_id = ? AND expired_at IS NOT NULL", runId)).toBe(1);
    // Caches unused for longer than `caches` days go, R2 object first; a recently used one stays.
    const project = (await env.DB.prepare("SELECT id FROM projects WHERE slug = 'retention-expire'").first<{ id: string }>())!.id;
    await env.DB.prepare("UPDATE projects SET retention = ? WHERE id = ?").bind(JSON.stringify({ logs: 1, artifacts: 1, caches: 7 }), project).run();
    for (const [id, usedAt] of [["stale", later - 8 * DAY_MS], ["fresh", later - DAY_MS]] as const) {
      await env.ARTIFACTS.put(`caches/${project}/default/${id}.tar.gz`, "archive");
      await env.DB.prepare(
        "INSERT INTO cache_entries (id, project_id, queue, key, size, sha256, r2_key, created_at, last_used_at) VALUES (?, ?, 'default', ?, 7, 'x', ?, ?, ?)",
      )
        .bind(id, project, `key-${id}`, `caches/${project}/default/${id}.tar.gz`, usedAt, usedAt)
        .run();
    }
    expect((await retentionTick(env, later)).caches).toBe(1);
    expect((await env.ARTIFACTS.list({ prefix: `caches/${project}/` })).objects.map((o) => o.key)).toEqual([`caches/${project}/default/fresh.tar.gz`]);
    // Done once: the next tick has nothing left of this run.
    expect(await retentionTick(env, later)).toMatchObject({ logs: 0, artifacts: 0, caches: 0 });
  });
});
