// A run's OpenLineage events through the real worker and RunObject (no lineage backend is
// configured in the workers tests): recorded with the state changes that caused them, listed
// by GET /api/v1/runs/:run/lineage with their delivery state, and never sent.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { eventTypeOf } from "../../domain/lineage/index.ts";
import type { State } from "../../domain/states.ts";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent } from "./agent-client.ts";

/** Runs `test` to a failure of its step `unit` (with log lines), so `deploy` never runs. */
async function failedRun(slug: string) {
  await projectWithPipeline(slug);
  const agent = await registerAgent(`${slug}-agent`, ["linux"]);
  const run = (await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`, { body: { branch: "main", commit: "abc123" } })).json;
  const assignment = (await claim(agent.token)).json;
  const j = job(assignment.token, assignment.job.attemptId);
  expect((await j.step("install", { attempt: 1, status: "RUNNING" })).status).toBe(200);
  expect((await j.step("install", { attempt: 1, status: "SUCCESS", exitCode: 0 })).status).toBe(200);
  expect((await j.step("unit", { attempt: 1, status: "RUNNING" })).status).toBe(200);
  const log = new TextEncoder().encode("▶ step unit (attempt 1)\n\u001b[1mcompiling\u001b[0m\nerror: boom at test.js:3\n");
  expect((await j.log(0, 0, log)).status).toBe(200);
  expect((await j.step("unit", { attempt: 1, status: "FAILED", exitCode: 2 })).status).toBe(200);
  expect((await j.finish({ status: "FAILED", reason: "step_failed" })).status).toBe(200);
  return { run, j, jobAttemptId: assignment.job.attemptId as string };
}

const stub = (runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));

describe("GET /api/v1/runs/:run/lineage", () => {
  it("lists every event in order with its delivery state; with no backend configured nothing is sent", async () => {
    const { run, jobAttemptId } = await failedRun("lineage-list");
    const listed = await api("GET", `/api/v1/runs/${run.id}/lineage`);
    expect(listed.status).toBe(200);
    const { items, delivery, cursor } = listed.json;
    expect(cursor).toBeNull();
    expect(delivery).toMatchObject({ configured: false, configError: null, pending: 0, sent: 0, rejected: 0, notConfigured: items.length, failures: 0 });

    const attemptId = run.attempts[0].id;
    const deployId = run.attempts[0].jobs[1].attempts[0].id;
    const byRun = (id: string) => items.filter((i: any) => i.runId === id).map((i: any) => i.eventType);
    expect(byRun(attemptId)).toEqual(["OTHER", "START", "FAIL"]);
    expect(byRun(jobAttemptId)).toEqual(["OTHER", "START", "FAIL"]);
    expect(byRun(deployId)).toEqual(["OTHER", "START", "ABORT"]);
    expect(items.map((i: any) => i.seq)).toEqual([...items.keys()].map((k) => items[0].seq + k));
    for (const item of items) {
      expect(item.delivery).toEqual({ state: "not_configured", attempts: 0, httpStatus: null, error: null, lastAttemptAt: null, sentAt: null });
      expect(item.event.eventType).toBe(item.eventType);
      expect(item.event.run.runId).toBe(item.runId);
    }
    const fail = items.find((i: any) => i.runId === jobAttemptId && i.eventType === "FAIL").event;
    expect(fail.job).toMatchObject({ namespace: "lineage-list", name: "build.test" });
    expect(fail.run.facets.errorMessage).toMatchObject({
      message: 'step "unit" of job "test" failed with exit code 2',
      programmingLanguage: "shell",
      stackTrace: "▶ step unit (attempt 1)\ncompiling\nerror: boom at test.js:3",
    });
    expect(fail.run.facets.parent.run.runId).toBe(attemptId);

    // The alarm runs every outbox; lineage stays untouched: nothing configured, nothing tried.
    await runDurableObjectAlarm(stub(run.id));
    const again = (await api("GET", `/api/v1/runs/${run.id}/lineage`)).json;
    expect(again.items.every((i: any) => i.delivery.attempts === 0 && i.delivery.state === "not_configured")).toBe(true);
  });

  it("records an event exactly for each committed transition, in the same transaction; a refused command records none", async () => {
    const { run, j } = await failedRun("lineage-txn");
    const before = (await api("GET", `/api/v1/runs/${run.id}/lineage`)).json.items.length;
    expect((await j.finish({ status: "SUCCESS" })).status).toBe(410); // refused: the job has ended
    expect((await api("POST", `/api/v1/runs/${run.id}/cancel`)).status).toBe(409); // refused: the run has ended
    expect((await api("GET", `/api/v1/runs/${run.id}/lineage`)).json.items.length).toBe(before);

    await runInDurableObject(stub(run.id), (_instance, state) => {
      const sql = state.storage.sql;
      const history = sql
        .exec<{ entity_id: string; from_state: string | null; to_state: string; at: number }>(
          "SELECT entity_id, from_state, to_state, at FROM history WHERE entity IN ('run_attempt', 'job_attempt') ORDER BY seq",
        )
        .toArray()
        .flatMap((h) => {
          const type = eventTypeOf({ from: h.from_state as State | null, to: h.to_state as State });
          return type ? [`${h.entity_id} ${type} ${new Date(h.at).toISOString()}`] : [];
        });
      const events = sql
        .exec<{ run_id: string; event_type: string; event_time: string }>("SELECT run_id, event_type, event_time FROM lineage_events ORDER BY seq")
        .toArray()
        .map((e) => `${e.run_id} ${e.event_type} ${e.event_time}`);
      // Each transition has its event; the only extra is the START of `deploy`, which never ran.
      expect(events.filter((e) => !history.includes(e))).toEqual([expect.stringMatching(/ START /)]);
      expect(history.filter((h) => !events.includes(h))).toEqual([]);
    });
  });

  it("pages with limit and cursor", async () => {
    const { run } = await failedRun("lineage-pages");
    const all = (await api("GET", `/api/v1/runs/${run.id}/lineage`)).json.items.map((i: any) => i.seq);
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await api("GET", `/api/v1/runs/${run.id}/lineage?limit=4${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      expect(page.json.items.length).toBeLessThanOrEqual(4);
      seen.push(...page.json.items.map((i: any) => i.seq));
      cursor = page.json.cursor;
    } while (cursor);
    expect(seen).toEqual(all);
  });

  it("refuses bad input with a 4xx, and hides runs of projects the token may not see", async () => {
    const { run } = await failedRun("lineage-access");
    for (const query of ["limit=0", "limit=501", "limit=ten", "cursor=abc", "cursor=-1"]) {
      const bad = await api("GET", `/api/v1/runs/${run.id}/lineage?${query}`);
      expect(bad.status, query).toBe(400);
      expect(bad.json.error.code).toBe("invalid_request");
    }
    expect((await api("GET", "/api/v1/runs/not-a-uuid/lineage")).status).toBe(400);
    const unknown = await api("GET", "/api/v1/runs/0190a0a0-0000-7000-8000-000000000000/lineage");
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("run_not_found");

    await api("POST", "/api/v1/projects", { body: { slug: "lineage-other" } });
    const other = (await api("POST", "/api/v1/tokens", { body: { name: "other", scopes: ["read"], projects: ["lineage-other"] } })).json.token;
    const hidden = await api("GET", `/api/v1/runs/${run.id}/lineage`, { token: other });
    expect(hidden.status).toBe(404);
    expect(hidden.json.error.code).toBe("run_not_found");
    const reader = (await api("POST", "/api/v1/tokens", { body: { name: "reader", scopes: ["read"], projects: ["lineage-access"] } })).json.token;
    expect((await api("GET", `/api/v1/runs/${run.id}/lineage`, { token: reader })).status).toBe(200);
    expect((await api("GET", `/api/v1/runs/${run.id}/lineage`, { token: null })).status).toBe(401);
  });
});
