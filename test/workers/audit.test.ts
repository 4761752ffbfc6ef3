/**
 * The audit log (docs/security.md "The audit log"): each change is recorded with its actor in
 * the same D1 batch as the change, so a change refused or not made records nothing; the cron
 * trims rows past the retention, a bounded number per tick.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AUDIT_TRIM_BATCH, trimAuditLog } from "../../worker/services/audit.ts";
import { api, projectWithPipeline } from "./api-client.ts";

const events = async (query = "") => (await api("GET", `/api/v1/audit?limit=200${query}`)).json.items as any[];
const actions = async (query = "") => (await events(query)).map((e) => `${e.action} ${e.target}`);

describe("audit log", () => {
  it("records project, pipeline, secret, token and queue changes with the caller and their IP", async () => {
    await projectWithPipeline("audited");
    const put = await api("PUT", "/api/v1/projects/audited/secrets/DEPLOY_KEY", { body: { value: "v" }, headers: { "cf-connecting-ip": "203.0.113.7" } });
    expect(put.status).toBe(201);
    expect((await api("DELETE", "/api/v1/projects/audited/secrets/DEPLOY_KEY")).status).toBe(204);
    const token = (await api("POST", "/api/v1/tokens", { body: { name: "ci", scopes: ["read"] } })).json;
    expect((await api("DELETE", `/api/v1/tokens/${token.id}`)).status).toBe(200);
    expect((await api("DELETE", `/api/v1/tokens/${token.id}`)).status).toBe(200); // already revoked: no second row
    expect((await api("POST", "/api/v1/queues", { body: { name: "gpu" } })).status).toBe(201);
    expect((await api("PATCH", "/api/v1/queues/gpu", { body: { description: "big" } })).status).toBe(200);
    expect((await api("DELETE", "/api/v1/queues/gpu")).status).toBe(200);

    expect(await actions("&project=audited")).toEqual(["secret.delete DEPLOY_KEY", "secret.put DEPLOY_KEY", "pipeline.create build v1", "project.create audited"]);
    const all = await actions();
    expect(all.filter((a) => a.startsWith("token."))).toEqual([`token.revoke ${token.id}`, `token.create ci (${token.id})`]);
    expect(all.filter((a) => a.startsWith("queue."))).toEqual(["queue.delete gpu", "queue.update gpu", "queue.create gpu"]);
    const secretPut = (await events("&action=secret.put"))[0];
    expect(secretPut).toMatchObject({ actor: { kind: "system", id: "admin-token" }, ip: "203.0.113.7", project: "audited" });
  });

  it("records nothing for a change that did not happen", async () => {
    const before = (await events()).length;
    expect((await api("DELETE", "/api/v1/projects/audited/secrets/NEVER_SET")).status).toBe(404);
    expect((await api("POST", "/api/v1/projects", { body: { slug: "audited" } })).status).toBe(409);
    expect((await api("DELETE", "/api/v1/queues/no-such")).status).toBe(404);
    expect((await events()).length).toBe(before);
  });

  it("refuses bad filters with a 400", async () => {
    expect((await api("GET", "/api/v1/audit?action=DROP TABLE")).status).toBe(400);
    expect((await api("GET", "/api/v1/audit?cursor=nope")).status).toBe(400);
  });

  it("trims events past the retention, at most a batch per tick", async () => {
    const now = Date.now();
    const old = now - 400 * 24 * 3600 * 1000;
    const insert = env.DB.prepare(
      "INSERT INTO audit_events (id, at, actor_kind, actor_id, actor_name, action) VALUES (?, ?, 'system', 'test', 'test', 'test.old')",
    );
    const rows = AUDIT_TRIM_BATCH + 5;
    await env.DB.batch(Array.from({ length: rows }, (_, i) => insert.bind(`00000000-0000-7000-8000-${String(i).padStart(12, "0")}`, old)));
    expect(await trimAuditLog(env, now)).toBe(AUDIT_TRIM_BATCH);
    expect(await trimAuditLog(env, now)).toBe(5);
    expect(await trimAuditLog(env, now)).toBe(0);
    expect((await events()).some((e) => e.action === "project.create")).toBe(true);
  });
});
