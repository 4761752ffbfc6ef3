/**
 * Every user API call needs `Authorization: Bearer` with the admin token or an API token made
 * through the API (stored hashed, revocable, optionally expiring). No token, a wrong one, a
 * revoked or an expired one: 401, and nothing happens.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN, api, PIPELINE, projectWithPipeline } from "./api-client.ts";

const sha256 = async (text: string) =>
  [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)))].map((b) => b.toString(16).padStart(2, "0")).join("");

async function newToken(body: Record<string, unknown>) {
  const res = await api("POST", "/api/v1/tokens", { body: { name: "t", ...body } });
  expect(res.status, res.text).toBe(201);
  return res.json as { id: string; token: string; expiresAt: string | null };
}

let runId: string;
beforeAll(async () => {
  await projectWithPipeline("guarded");
  runId = (await api("POST", "/api/v1/projects/guarded/pipelines/build/runs", { body: {} })).json.id;
});

/** What a caller could try to change; after a 401 all of it must be as it was. */
async function snapshot() {
  const count = async (sql: string) => (await env.DB.prepare(sql).first<{ n: number }>())!.n;
  return {
    projects: await count("SELECT count(*) AS n FROM projects"),
    versions: await count("SELECT count(*) AS n FROM pipeline_versions"),
    runs: await count("SELECT count(*) AS n FROM runs"),
    tokens: await count("SELECT count(*) AS n FROM tokens"),
    run: (await api("GET", `/api/v1/runs/${runId}`)).json.status,
  };
}

const attempts = () => [
  ["POST", "/api/v1/projects", { body: { slug: "intruder" } }],
  ["PUT", "/api/v1/projects/guarded/pipelines/build", { raw: `${PIPELINE}# changed\n`, headers: { "content-type": "text/plain" } }],
  ["POST", "/api/v1/projects/guarded/pipelines/build/runs", { body: {} }],
  ["POST", `/api/v1/runs/${runId}/cancel`, {}],
  ["POST", "/api/v1/tokens", { body: { name: "mine", scopes: ["admin"] } }],
  ["GET", "/api/v1/runs", {}],
] as const;

describe("the API's door", () => {
  const bad: [string, Record<string, string>][] = [
    ["no Authorization header", {}],
    ["a wrong admin token", { authorization: `Bearer ${ADMIN}x` }],
    ["an unknown API token", { authorization: "Bearer ymt_thisTokenWasNeverIssuedByYardmaster00" }],
    ["another scheme (Basic)", { authorization: `Basic ${btoa(`admin:${ADMIN}`)}` }],
    ["an empty bearer", { authorization: "Bearer " }],
    ["a registration token", { authorization: "Bearer ymr_notAnApiToken" }],
  ];

  it.each(bad)("%s: 401 on every route, and nothing happens", async (_label, headers) => {
    const before = await snapshot();
    for (const [method, path, options] of attempts()) {
      const res = await api(method, path, { ...options, token: null, headers: { ...("headers" in options ? options.headers : {}), ...headers } });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.json.error.code).toBe("unauthorized");
      expect(res.json.error.message).toMatch(/Bearer|unknown, revoked or expired/);
    }
    expect(await snapshot()).toEqual(before);
  });

  it("accepts the admin token, with any case of 'Bearer', and the dashboard's session cookie", async () => {
    expect((await api("GET", "/api/v1/projects", { token: null, headers: { authorization: `bearer ${ADMIN}` } })).status).toBe(200);
    const viaCookie = await api("POST", "/api/v1/projects/guarded/pipelines/build/runs", { token: null, headers: { cookie: `ym_session=${ADMIN}` }, body: {} });
    expect(viaCookie.status).toBe(201);
    expect(viaCookie.json.trigger).toBe("manual");
  });
});

describe("API tokens", () => {
  it("are shown once, stored only as their SHA-256, listed without their value, and work", async () => {
    const created = await newToken({ name: "ci", scopes: ["run"] });
    expect(created.token).toMatch(/^ymt_/);
    const row = await env.DB.prepare("SELECT * FROM tokens WHERE id = ?").bind(created.id).first<Record<string, unknown>>();
    expect(row!.token_hash).toBe(await sha256(created.token));
    expect(JSON.stringify(row)).not.toContain(created.token.slice(4));
    const list = await api("GET", "/api/v1/tokens");
    const listed = list.json.items.find((t: any) => t.id === created.id);
    expect(listed).toMatchObject({ name: "ci", kind: "api", scopes: ["run"], revokedAt: null });
    expect(list.text).not.toContain(created.token);

    const used = await api("POST", "/api/v1/projects/guarded/pipelines/build/runs", { token: created.token, body: {} });
    expect(used.status).toBe(201);
    expect(used.json.trigger).toBe("api");
    const seen = await env.DB.prepare("SELECT last_used_at FROM tokens WHERE id = ?").bind(created.id).first<{ last_used_at: number | null }>();
    expect(seen!.last_used_at).not.toBeNull();
  });

  it("a revoked token gets 401 and changes nothing; revoking again keeps the first revocation", async () => {
    const created = await newToken({ scopes: ["admin"] });
    expect((await api("GET", "/api/v1/projects", { token: created.token })).status).toBe(200);
    const revoked = await api("DELETE", `/api/v1/tokens/${created.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.json.revokedAt).not.toBeNull();
    const before = await snapshot();
    for (const [method, path, options] of attempts()) {
      const res = await api(method, path, { ...options, token: created.token });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.json.error.message).toBe("the token is unknown, revoked or expired");
    }
    expect(await snapshot()).toEqual(before);
    const again = await api("DELETE", `/api/v1/tokens/${created.id}`);
    expect(again.status).toBe(200);
    expect(again.json.revokedAt).toBe(revoked.json.revokedAt);
  });

  it("an expired token gets 401", async () => {
    const created = await newToken({ scopes: ["read"], expiresAt: new Date(Date.now() + 3000).toISOString() });
    expect((await api("GET", "/api/v1/runs", { token: created.token })).status).toBe(200);
    await new Promise((r) => setTimeout(r, Date.parse(created.expiresAt!) - Date.now() + 50));
    const res = await api("GET", "/api/v1/runs", { token: created.token });
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe("unauthorized");
  });

  it("refuses a malformed expiry with one issue that says what to write", async () => {
    const res = await api("POST", "/api/v1/tokens", { body: { name: "x", scopes: ["read"], expiresAt: "tomorrow" } });
    expect(res.status).toBe(400);
    expect(res.json.error.details.issues).toEqual([{ path: "expiresAt", message: expect.stringMatching(/ISO datetime/) }]);
  });

  it("refuses a token without scopes, with an unknown scope, or expiring in the past (400)", async () => {
    for (const body of [{ name: "x", scopes: [] }, { name: "x", scopes: ["root"] }, { name: "x", scopes: ["read"], expiresAt: "2001-01-01T00:00:00Z" }, { scopes: ["read"] }]) {
      const res = await api("POST", "/api/v1/tokens", { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe("invalid_request");
      expect(res.json.error.details.issues.length).toBeGreaterThan(0);
    }
  });

  it("answers 404 when revoking an unknown token, or a token of the other kind", async () => {
    const unknown = await api("DELETE", "/api/v1/tokens/0190a0a0-0000-7000-8000-000000000000");
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("token_not_found");
    const registration = (await api("POST", "/api/v1/agent-tokens", { body: { name: "agents" } })).json;
    expect((await api("DELETE", `/api/v1/tokens/${registration.id}`)).status).toBe(404);
  });

  it("scopes: read may read but not trigger (403); run may trigger but not store pipelines (403)", async () => {
    const reader = await newToken({ scopes: ["read"] });
    expect((await api("GET", `/api/v1/runs/${runId}`, { token: reader.token })).status).toBe(200);
    const trigger = await api("POST", "/api/v1/projects/guarded/pipelines/build/runs", { token: reader.token, body: {} });
    expect(trigger.status).toBe(403);
    expect(trigger.json.error.code).toBe("forbidden");
    const runner = await newToken({ scopes: ["run"] });
    const store = await api("PUT", "/api/v1/projects/guarded/pipelines/build", { token: runner.token, raw: PIPELINE, headers: { "content-type": "text/plain" } });
    expect(store.status).toBe(403);
  });

  it("a token limited to some projects does not see the others' runs", async () => {
    await projectWithPipeline("elsewhere");
    const other = (await api("POST", "/api/v1/projects/elsewhere/pipelines/build/runs", { body: {} })).json.id;
    const limited = await newToken({ scopes: ["run"], projects: ["guarded"] });
    expect((await api("GET", `/api/v1/runs/${runId}`, { token: limited.token })).status).toBe(200);
    const hidden = await api("GET", `/api/v1/runs/${other}`, { token: limited.token });
    expect(hidden.status).toBe(404);
    expect((await api("POST", `/api/v1/runs/${other}/cancel`, { token: limited.token })).status).toBe(404);
    expect((await api("GET", `/api/v1/runs/${other}`)).json.status).toBe("CREATED");
    const listed = await api("GET", "/api/v1/runs", { token: limited.token });
    expect(new Set(listed.json.items.map((r: any) => r.project))).toEqual(new Set(["guarded"]));
  });
});

describe("agent registration tokens", () => {
  it("register agents until revoked; then registration gets 401", async () => {
    const created = await api("POST", "/api/v1/agent-tokens", { body: { name: "fleet" } });
    expect(created.status).toBe(201);
    expect(created.json.token).toMatch(/^ymr_/);
    const register = () => api("POST", "/api/agent/v1/register", { token: created.json.token, body: { name: "a1", labels: ["linux"], version: "1" } });
    expect((await register()).status).toBe(201);
    const list = await api("GET", "/api/v1/agent-tokens");
    expect(list.json.items.map((t: any) => t.id)).toContain(created.json.id);
    expect(list.text).not.toContain(created.json.token);
    expect((await api("DELETE", `/api/v1/agent-tokens/${created.json.id}`)).status).toBe(200);
    const refused = await register();
    expect(refused.status).toBe(401);
    expect(refused.json.error.code).toBe("registration_token_revoked");
    // An agent registration token is not an API token.
    expect((await api("GET", "/api/v1/projects", { token: created.json.token })).status).toBe(401);
  });
});
