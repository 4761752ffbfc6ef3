/**
 * Actions on a run are recorded by the run's object in the command's own transaction and reach
 * D1's audit log through its outbox (durable-objects/run-object/audit-outbox.ts): nothing recorded
 * that did not happen, nothing that happened unrecorded — through a D1 outage, an eviction between
 * the command and the flush, and a flush repeated after a crash. The outage is real: the audit
 * table is renamed away in the real D1, so every flush fails ("no such table") until it is back.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { agentWith, claimNext, labelledPipeline, runClaimed } from "./run-helpers.ts";

const stub = (runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));

/** D1's audit rows about a run, oldest first. */
async function auditOf(runId: string) {
  const { results } = await env.DB.prepare("SELECT id, action, actor_kind, actor_id, actor_name, project, target, ip FROM audit_events WHERE target = ? ORDER BY id")
    .bind(runId)
    .all<{ id: string; action: string; actor_kind: string; actor_id: string; actor_name: string; project: string; target: string; ip: string | null }>();
  return results;
}

/** The records the run's object still holds for D1, and its outbox's failures. */
async function outbox(runId: string) {
  return runInDurableObject(stub(runId), (_instance, state) => {
    const waiting = state.storage.sql.exec<{ action: string }>("SELECT action FROM audit_outbox ORDER BY id").toArray().map((r) => r.action);
    const status = state.storage.sql.exec<{ failures: number }>("SELECT failures FROM outbox_status WHERE name = 'audit'").toArray()[0];
    return { waiting, failures: status?.failures ?? 0 };
  });
}

async function d1Down() {
  await env.DB.exec("ALTER TABLE audit_events RENAME TO audit_events_away");
}
async function d1Back() {
  await env.DB.exec("ALTER TABLE audit_events_away RENAME TO audit_events").catch(() => undefined);
}
afterEach(d1Back);

/** A token of the project `run` scope: its audit actor is the token. */
async function runToken(name: string) {
  const created = await api("POST", "/api/v1/tokens", { body: { name, scopes: ["run"] } });
  expect(created.status, created.text).toBe(201);
  return created.json as { id: string; token: string };
}

const trigger = async (project: string, token?: string) => {
  const run = await api("POST", `/api/v1/projects/${project}/pipelines/build/runs`, { body: {}, ...(token && { token }), headers: { "cf-connecting-ip": "198.51.100.7" } });
  expect(run.status, run.text).toBe(201);
  return run.json.id as string;
};
const cancel = (runId: string, token?: string) => api("POST", `/api/v1/runs/${runId}/cancel`, { ...(token && { token }), headers: { "cf-connecting-ip": "203.0.113.9" } });

describe("audit records of actions on a run, from the run's outbox", () => {
  it("records a trigger and a cancel with their actor, project and client IP, as the run shows them", async () => {
    await projectWithPipeline("aud-basic", labelledPipeline("aud-basic"));
    const ci = await runToken("ci-bot");
    const runId = await trigger("aud-basic", ci.token);
    const cancelled = await cancel(runId, ci.token);
    expect(cancelled.status, cancelled.text).toBe(200);

    // In D1 by the time the answer came: the object awaited its outbox.
    const actor = { actor_kind: "token", actor_id: ci.id, actor_name: "ci-bot" };
    expect(await auditOf(runId)).toMatchObject([
      { action: "run.trigger", ...actor, project: "aud-basic", target: runId, ip: "198.51.100.7" },
      { action: "run.cancel", ...actor, project: "aud-basic", target: runId, ip: "203.0.113.9" },
    ]);
    expect(await outbox(runId)).toEqual({ waiting: [], failures: 0 });
    const view = (await api("GET", `/api/v1/runs/${runId}`)).json;
    expect(view.triggeredBy).toEqual({ kind: "token", id: ci.id, name: "ci-bot" });
    expect(view.actions.map((a: { action: string }) => a.action)).toEqual(["run.trigger", "run.cancel"]);
  });

  it("a run's read shows who acted from its own object: with D1's audit log away, GET /runs/:run still lists them", async () => {
    await projectWithPipeline("aud-local", labelledPipeline("aud-local"));
    const ci = await runToken("ci-local");
    const runId = await trigger("aud-local", ci.token);
    expect((await cancel(runId, ci.token)).status).toBe(200);
    await d1Down(); // a read that queried D1's audit_events would fail now
    const read = await api("GET", `/api/v1/runs/${runId}`);
    expect(read.status, read.text).toBe(200);
    expect(read.json.triggeredBy).toEqual({ kind: "token", id: ci.id, name: "ci-local" });
    expect(read.json.actions.map((a: { action: string; actor: { id: string } }) => [a.action, a.actor.id])).toEqual([
      ["run.trigger", ci.id],
      ["run.cancel", ci.id],
    ]);
  });

  it("a refused command records nothing: cancelling a finished run is 409 and no row", async () => {
    await projectWithPipeline("aud-refused", labelledPipeline("aud-refused"));
    const runId = await trigger("aud-refused");
    expect((await cancel(runId)).status).toBe(200);
    const again = await cancel(runId);
    expect([again.status, again.json.error.code]).toEqual([409, expect.any(String)]);
    expect((await auditOf(runId)).map((r) => r.action)).toEqual(["run.trigger", "run.cancel"]);
    const rerunRefused = await api("POST", `/api/v1/runs/${runId}/rerun`, { body: { jobs: ["nope"] } });
    expect(rerunRefused.status).toBe(400);
    expect((await auditOf(runId)).map((r) => r.action)).toEqual(["run.trigger", "run.cancel"]);
    expect(await outbox(runId)).toEqual({ waiting: [], failures: 0 });
  });

  it("D1 fails during the flush: the cancel still answers, the record waits, and recovery writes exactly one row", async () => {
    await projectWithPipeline("aud-outage", labelledPipeline("aud-outage"));
    const runId = await trigger("aud-outage");
    await d1Down();
    const cancelled = await cancel(runId);
    // The cancel happened: the caller is told so, whatever the audit table's state.
    expect(cancelled.status, cancelled.text).toBe(200);
    expect(cancelled.json.status).toMatch(/^(KILLED|KILLING)$/);
    const held = await outbox(runId);
    expect(held.waiting).toEqual(["run.cancel"]);
    expect(held.failures).toBeGreaterThan(0);
    // Still down: the alarm's retry fails too and keeps the record.
    await runDurableObjectAlarm(stub(runId));
    expect((await outbox(runId)).waiting).toEqual(["run.cancel"]);

    await d1Back();
    await runDurableObjectAlarm(stub(runId)); // the retry (unless the clock ran it already)
    expect((await auditOf(runId)).map((r) => [r.action, r.actor_id, r.ip])).toEqual([
      ["run.trigger", "admin-token", "198.51.100.7"],
      ["run.cancel", "admin-token", "203.0.113.9"],
    ]);
    expect(await outbox(runId)).toEqual({ waiting: [], failures: 0 });
    // Another alarm, or another flush, writes nothing more.
    await runDurableObjectAlarm(stub(runId));
    expect(await auditOf(runId)).toHaveLength(2);
  });

  it("the object evicted between the command and the flush: the record survives in its storage and is written once", async () => {
    await projectWithPipeline("aud-evict", labelledPipeline("aud-evict"));
    const runId = await trigger("aud-evict");
    await d1Down();
    expect((await cancel(runId)).status).toBe(200);
    await evictDurableObject(stub(runId));
    await d1Back();
    // A fresh instance: the alarm set with the command flushes what the old instance committed.
    await runDurableObjectAlarm(stub(runId));
    expect((await auditOf(runId)).map((r) => r.action)).toEqual(["run.trigger", "run.cancel"]);
    expect(await outbox(runId)).toEqual({ waiting: [], failures: 0 });
  });

  it("a flush repeated after D1 took the rows (a crash before the local delete) inserts nothing twice", async () => {
    await projectWithPipeline("aud-twice", labelledPipeline("aud-twice"));
    const runId = await trigger("aud-twice");
    expect((await cancel(runId)).status).toBe(200);
    const written = await auditOf(runId);
    // Put D1's rows back in the outbox, as if the object died after D1's insert and before its delete.
    await runInDurableObject(stub(runId), async (_instance, state) => {
      await state.storage.setAlarm(Date.now() + 60_000); // as the commit would have; run below, not by the clock
      for (const r of written) {
        state.storage.sql.exec(
          "INSERT INTO audit_outbox (id, at, actor_kind, actor_id, actor_name, action, project, target, ip) VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?)",
          r.id,
          r.actor_kind,
          r.actor_id,
          r.actor_name,
          r.action,
          r.project,
          r.target,
          r.ip,
        );
      }
    });
    await evictDurableObject(stub(runId));
    expect(await runDurableObjectAlarm(stub(runId))).toBe(true);
    expect(await auditOf(runId)).toEqual(written);
    expect(await outbox(runId)).toEqual({ waiting: [], failures: 0 });
  });

  it("records a re-run and cancelled jobs with who did them; a run is not deleted while its records wait", async () => {
    await projectWithPipeline("aud-jobs", labelledPipeline("aud-jobs"));
    const agent = await agentWith("aud-jobs");
    const runId = await trigger("aud-jobs");
    for (let i = 0; i < 4; i++) await runClaimed(await claimNext(agent.token), "SUCCESS");
    expect((await api("POST", `/api/v1/runs/${runId}/rerun`, { body: { jobs: ["lint"] } })).status).toBe(201);
    const queued = (await api("GET", "/api/v1/queue")).json.pending.filter((e: { runId: string }) => e.runId === runId);
    expect(queued).toHaveLength(1);
    const cancelled = await api("POST", "/api/v1/queue/cancel", { body: { jobs: [queued[0].jobAttemptId] } });
    expect(cancelled.json.cancelled).toEqual([queued[0].jobAttemptId]);
    expect((await auditOf(runId)).map((r) => r.action)).toEqual(["run.trigger", "run.rerun"]);
    const { results } = await env.DB.prepare("SELECT action, actor_id, target FROM audit_events WHERE target LIKE ?").bind(`${runId}: %`).all();
    expect(results).toEqual([{ action: "job.cancel", actor_id: "admin-token", target: `${runId}: ${queued[0].jobAttemptId}` }]);

    // The run has ended; while D1 refuses its audit records, deleting it would lose them: refused.
    await d1Down();
    expect((await cancel(runId)).status).toBe(409); // refused, nothing to record
    await runInDurableObject(stub(runId), (_instance, state) => {
      state.storage.sql.exec("INSERT INTO audit_outbox (id, at, actor_kind, actor_id, actor_name, action, project, target, ip) VALUES ('0-late', 0, 'system', 's', 's', 'run.cancel', 'aud-jobs', ?, NULL)", runId);
    });
    expect(await stub(runId).destroy(runId)).toMatchObject({ ok: false, error: { status: 409, code: "audit_pending" } });
    await d1Back();
    expect(await stub(runId).destroy(runId)).toMatchObject({ ok: true });
  });
});
