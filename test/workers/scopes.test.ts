/**
 * Every user-API route against tokens of every scope (docs/security.md): a token without the
 * scope gets 403; a token limited to another project gets 403 on routes that name the project
 * and 404 on resources addressed by id (their existence is not revealed); actions of no one
 * project (tokens, agents, new projects) need a token for every project. A route missing from
 * the table fails the last test, so new routes get checked too. People behind Cloudflare Access
 * with the same roles get the same answers (one rule set: docs/security.md "People").
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { newKey, person, Team } from "./access-helpers.ts";
import { api, projectWithPipeline } from "./api-client.ts";
import { registerAgent } from "./agent-client.ts";

type Need = "read" | "run" | "admin" | "global" | "global-read";
type Token = { token: string; id: string; scope: "read" | "run" | "admin"; projects: string[] | null };
interface Case {
  route: string;
  need: Need;
  /** The resource is addressed by id: another project's token gets 404, not 403. */
  byId?: boolean;
  /** People reach their own (API tokens): allowed for every person, whatever their roles. */
  ownForPeople?: boolean;
  /** How a hidden resource answers, when not 404 (bulk cancel lists it as not found). */
  hidden?: (answer: { status: number; json: any }) => void;
  call: (token: string) => Promise<{ status: number; text: string; json: any }>;
}

const P = "scoped";
let runId = "";
/** Queued job attempts of three runs of project P. */
let queued: string[] = [];
let throwaway = 0;
const tokens: Record<string, Token> = {};

async function newToken(name: string, scope: Token["scope"], projects?: string[]): Promise<Token> {
  const created = await api("POST", "/api/v1/tokens", { body: { name, scopes: [scope], ...(projects && { projects }) } });
  expect(created.status).toBe(201);
  return { token: created.json.token, id: created.json.id, scope, projects: projects ?? null };
}

beforeAll(async () => {
  await projectWithPipeline(P);
  await projectWithPipeline("other");
  const runs = [];
  for (let i = 0; i < 3; i++) runs.push((await api("POST", `/api/v1/projects/${P}/pipelines/build/runs`, { body: {} })).json);
  runId = runs[0].id;
  queued = runs.map((r) => r.attempts[0].jobs[0].attempts[0].id);
  await api("PUT", `/api/v1/projects/${P}/secrets/KEEP`, { body: { value: "s3cr3t" } });
  const gate = "jobs:\n  gate:\n    type: approval\n    approval: { prompt: Ship it? }\n";
  expect((await api("PUT", `/api/v1/projects/${P}/pipelines/gate`, { raw: gate, headers: { "content-type": "text/plain" } })).status).toBe(201);
  tokens.read = await newToken("reader", "read");
  tokens.run = await newToken("runner", "run");
  tokens.admin = await newToken("admin", "admin");
  tokens.scopedAdmin = await newToken("scoped admin", "admin", [P]);
  tokens.otherAdmin = await newToken("other admin", "admin", ["other"]);
  // The same rights held by people, as roles.
  const team = new Team("https://scopes.cloudflareaccess.test");
  team.published = [await newKey("k1")];
  team.serve();
  const asPerson = async (email: string, scope: Token["scope"], projects: string[] | null): Promise<Token> => ({
    token: await person(team, email, (projects ?? [null]).map((project) => ({ project, role: scope }))),
    id: email,
    scope,
    projects,
  });
  tokens.personRead = await asPerson("reader@example.com", "read", null);
  tokens.personRun = await asPerson("runner@example.com", "run", null);
  tokens.personAdmin = await asPerson("admin@example.com", "admin", null);
  tokens.personScopedAdmin = await asPerson("scoped@example.com", "admin", [P]);
  tokens.personOtherAdmin = await asPerson("other@example.com", "admin", ["other"]);
});

/** A new queued run of P, for a call that changes it. */
const freshRun = async (): Promise<string> => (await api("POST", `/api/v1/projects/${P}/pipelines/build/runs`, { body: {} })).json.id;
/** A new run of P waiting on an approval, for approve and reject. */
const freshGateRun = async (): Promise<string> => (await api("POST", `/api/v1/projects/${P}/pipelines/gate/runs`, { body: {} })).json.id;
const PIPE = "name: build\njobs:\n  test:\n    runs-on: [linux]\n    steps:\n      - run: echo hi\n";

const cases: Case[] = [
  { route: "GET /api/v1/projects/{project}", need: "read", call: (t) => api("GET", `/api/v1/projects/${P}`, { token: t }) },
  { route: "GET /api/v1/projects/{project}/pipelines", need: "read", call: (t) => api("GET", `/api/v1/projects/${P}/pipelines`, { token: t }) },
  { route: "GET /api/v1/projects/{project}/pipelines/{pipeline}/trends", need: "read", call: (t) => api("GET", `/api/v1/projects/${P}/pipelines/build/trends`, { token: t }) },
  { route: "GET /api/v1/projects/{project}/branches", need: "read", call: (t) => api("GET", `/api/v1/projects/${P}/branches`, { token: t }) },
  { route: "GET /api/v1/projects/{project}/concurrency-groups", need: "read", call: (t) => api("GET", `/api/v1/projects/${P}/concurrency-groups`, { token: t }) },
  { route: "GET /api/v1/projects/{project}/pipelines/{pipeline}", need: "read", call: (t) => api("GET", `/api/v1/projects/${P}/pipelines/build`, { token: t }) },
  { route: "GET /api/v1/projects/{project}/secrets", need: "read", call: (t) => api("GET", `/api/v1/projects/${P}/secrets`, { token: t }) },
  { route: "GET /api/v1/projects/{project}/webhook-deliveries", need: "read", call: (t) => api("GET", `/api/v1/projects/${P}/webhook-deliveries`, { token: t }) },
  { route: "GET /api/v1/runs", need: "read", call: (t) => api("GET", `/api/v1/runs?project=${P}`, { token: t }) },
  { route: "GET /api/v1/artifacts", need: "read", call: (t) => api("GET", `/api/v1/artifacts?project=${P}`, { token: t }) },
  { route: "GET /api/v1/runs/{run}", need: "read", byId: true, call: (t) => api("GET", `/api/v1/runs/${runId}`, { token: t }) },
  { route: "GET /api/v1/runs/{run}/jobs/{job}/log", need: "read", byId: true, call: (t) => api("GET", `/api/v1/runs/${runId}/jobs/test/log`, { token: t }) },
  { route: "GET /api/v1/runs/{run}/lineage", need: "read", byId: true, call: (t) => api("GET", `/api/v1/runs/${runId}/lineage`, { token: t }) },
  { route: "POST /api/v1/projects/{project}/pipelines/{pipeline}/runs", need: "run", call: (t) => api("POST", `/api/v1/projects/${P}/pipelines/build/runs`, { token: t, body: {} }) },
  // Each allowed call must succeed, so each acts on a resource of its own (made with the admin token).
  { route: "POST /api/v1/runs/{run}/cancel", need: "run", byId: true, call: async (t) => api("POST", `/api/v1/runs/${await freshRun()}/cancel`, { token: t }) },
  {
    route: "POST /api/v1/runs/{run}/rerun",
    need: "run",
    byId: true,
    call: async (t) => {
      const run = await freshRun();
      await api("POST", `/api/v1/runs/${run}/cancel`);
      return api("POST", `/api/v1/runs/${run}/rerun`, { token: t, body: {} });
    },
  },
  { route: "POST /api/v1/runs/{run}/jobs/{job}/approve", need: "run", byId: true, call: async (t) => api("POST", `/api/v1/runs/${await freshGateRun()}/jobs/gate/approve`, { token: t, body: {} }) },
  { route: "POST /api/v1/runs/{run}/jobs/{job}/reject", need: "run", byId: true, call: async (t) => api("POST", `/api/v1/runs/${await freshGateRun()}/jobs/gate/reject`, { token: t, body: {} }) },
  { route: "GET /api/v1/runs/{run}/lineage", need: "read", byId: true, call: (t) => api("GET", `/api/v1/runs/${runId}/lineage`, { token: t }) },
  {
    route: "POST /api/v1/queue/reorder",
    need: "run",
    byId: true,
    call: (t) => api("POST", "/api/v1/queue/reorder", { token: t, body: { job: queued[1], before: queued[0] } }),
  },
  {
    route: "POST /api/v1/queue/cancel",
    need: "run",
    byId: true,
    hidden: (answer) => {
      expect(answer.status).toBe(200);
      expect(answer.json).toEqual({ cancelled: [], notFound: [queued[2]] });
    },
    call: (t) => api("POST", "/api/v1/queue/cancel", { token: t, body: { jobs: [queued[2]] } }),
  },
  {
    route: "PUT /api/v1/projects/{project}/pipelines/{pipeline}",
    need: "admin",
    call: (t) => api("PUT", `/api/v1/projects/${P}/pipelines/build`, { token: t, raw: PIPE, headers: { "content-type": "text/plain" } }),
  },
  { route: "PUT /api/v1/projects/{project}/secrets/{name}", need: "admin", call: (t) => api("PUT", `/api/v1/projects/${P}/secrets/TOKEN`, { token: t, body: { value: "v" } }) },
  {
    route: "DELETE /api/v1/projects/{project}/secrets/{name}",
    need: "admin",
    call: async (t) => {
      await api("PUT", `/api/v1/projects/${P}/secrets/DOOMED`, { body: { value: "v" } });
      return api("DELETE", `/api/v1/projects/${P}/secrets/DOOMED`, { token: t });
    },
  },
  { route: "PATCH /api/v1/projects/{project}", need: "admin", call: (t) => api("PATCH", `/api/v1/projects/${P}`, { token: t, body: { name: "Scoped" } }) },
  {
    route: "DELETE /api/v1/projects/{project}/pipelines/{pipeline}",
    need: "admin",
    call: async (t) => {
      const name = `doomed-${++throwaway}`;
      await api("PUT", `/api/v1/projects/${P}/pipelines/${name}`, { raw: PIPE, headers: { "content-type": "text/plain" } });
      return api("DELETE", `/api/v1/projects/${P}/pipelines/${name}`, { token: t });
    },
  },
  { route: "POST /api/v1/projects", need: "global", call: (t) => api("POST", "/api/v1/projects", { token: t, body: { slug: `new-${++throwaway}` } }) },
  { route: "POST /api/v1/tokens", need: "global", call: (t) => api("POST", "/api/v1/tokens", { token: t, body: { name: "x", scopes: ["admin"] } }) },
  { route: "GET /api/v1/tokens", need: "global", ownForPeople: true, call: (t) => api("GET", "/api/v1/tokens", { token: t }) },
  {
    route: "DELETE /api/v1/tokens/{id}",
    need: "global",
    ownForPeople: true,
    call: async (t) => api("DELETE", `/api/v1/tokens/${(await api("POST", "/api/v1/tokens", { body: { name: "doomed", scopes: ["read"] } })).json.id}`, { token: t }),
  },
  { route: "POST /api/v1/agent-tokens", need: "global", call: (t) => api("POST", "/api/v1/agent-tokens", { token: t, body: {} }) },
  { route: "GET /api/v1/agent-tokens", need: "global", call: (t) => api("GET", "/api/v1/agent-tokens", { token: t }) },
  {
    route: "DELETE /api/v1/agent-tokens/{id}",
    need: "global",
    call: async (t) => api("DELETE", `/api/v1/agent-tokens/${(await api("POST", "/api/v1/agent-tokens", { body: {} })).json.id}`, { token: t }),
  },
  { route: "DELETE /api/v1/agents/{id}", need: "global", call: async (t) => api("DELETE", `/api/v1/agents/${(await registerAgent(`doomed-${++throwaway}`, ["none"])).agentId}`, { token: t }) },
  { route: "POST /api/v1/queues", need: "global", call: (t) => api("POST", "/api/v1/queues", { token: t, body: { name: `q-${++throwaway}` } }) },
  { route: "PATCH /api/v1/queues/{name}", need: "global", call: (t) => api("PATCH", "/api/v1/queues/default", { token: t, body: { description: "d" } }) },
  {
    route: "DELETE /api/v1/queues/{name}",
    need: "global",
    call: async (t) => {
      const name = `doomed-q-${++throwaway}`;
      await api("POST", "/api/v1/queues", { body: { name } });
      return api("DELETE", `/api/v1/queues/${name}`, { token: t });
    },
  },
  { route: "GET /api/v1/users", need: "global", call: (t) => api("GET", "/api/v1/users", { token: t }) },
  { route: "GET /api/v1/audit", need: "global", call: (t) => api("GET", "/api/v1/audit", { token: t }) },
  {
    route: "PUT /api/v1/users/{email}/roles",
    need: "admin",
    call: (t) => api("PUT", "/api/v1/users/someone%40example.com/roles", { token: t, body: { project: P, role: "read" } }),
  },
  {
    route: "DELETE /api/v1/users/{email}/roles",
    need: "admin",
    call: async (t) => {
      const who = `leaver-${++throwaway}%40example.com`;
      await api("PUT", `/api/v1/users/${who}/roles`, { body: { project: P, role: "read" } });
      return api("DELETE", `/api/v1/users/${who}/roles`, { token: t, body: { project: P, role: "read" } });
    },
  },
  // Lineage events and datasets name no project: reading them takes a token for every project.
  { route: "GET /api/v1/lineage/events", need: "global-read", call: (t) => api("GET", "/api/v1/lineage/events", { token: t }) },
  { route: "GET /api/v1/datasets", need: "global-read", call: (t) => api("GET", "/api/v1/datasets", { token: t }) },
  {
    route: "DELETE /api/v1/runs/{run}",
    need: "admin",
    byId: true,
    call: async (t) => {
      const run = await freshRun();
      await api("POST", `/api/v1/runs/${run}/cancel`); // a queued run ends KILLED at once: it may be deleted
      return api("DELETE", `/api/v1/runs/${run}`, { token: t });
    },
  },
];

/**
 * Routes open to every valid token: lists filtered to the token's projects (tested below), a
 * live ticket (as the caller, read only), who-am-I.
 */
const FILTERED = ["GET /api/v1/projects", "GET /api/v1/queue", "GET /api/v1/queue/insight", "GET /api/v1/queue/groups", "GET /api/v1/agents", "POST /api/v1/live-tickets", "GET /api/v1/session", "GET /api/v1/me"];
/** The queue registry and its counts belong to no project: every valid token reads them (docs/security.md). */
const ANY_TOKEN = ["GET /api/v1/queues", "GET /api/v1/queues/{name}", "GET /api/v1/queues/{name}/metrics"];
/** Lineage in: the run scope, its triggers limited to the token's projects (lineage-ingest.test.ts); triggers listed filtered. */
FILTERED.push("POST /api/v1/lineage", "GET /api/v1/lineage/triggers");
/** Routes with their own door, tested in their own files (live-auth.test.ts, the artifacts tests). */
const ELSEWHERE = [
  "GET /api/v1/runs/{run}/live",
  "GET /api/v1/queue/live",
  "GET /api/v1/artifacts/{artifact}",
  "GET /api/v1/artifacts/{artifact}/download",
  "DELETE /api/v1/artifacts/{artifact}", // retention.test.ts
];
/** Deleting P would end this file's fixture: project-settings.test.ts checks its scopes (admin of the project). */
ELSEWHERE.push("DELETE /api/v1/projects/{project}");

const RANK = { read: 0, run: 1, admin: 2 } as const;

function expected(token: Token, c: Case): "allowed" | 403 | 404 {
  if (c.ownForPeople && token.id.includes("@")) return "allowed";
  const need = c.need === "global" ? "admin" : c.need === "global-read" ? "read" : c.need;
  if (RANK[token.scope] < RANK[need]) return 403;
  if (c.need === "global" || c.need === "global-read") return token.projects === null ? "allowed" : 403;
  if (token.projects !== null && !token.projects.includes(P)) return c.byId ? 404 : 403;
  return "allowed";
}

describe("scopes", () => {
  for (const c of cases) {
    it(`${c.route} (${c.need}${c.byId ? ", by id" : ""})`, async () => {
      // Refused tokens first: an allowed call may change what later calls see (a cancelled job).
      const order = Object.entries(tokens).sort(([, a], [, b]) => Number(expected(a, c) === "allowed") - Number(expected(b, c) === "allowed"));
      for (const [name, token] of order) {
        const answer = await c.call(token.token);
        const want = expected(token, c);
        const where = `${name} token → ${answer.status} ${answer.text.slice(0, 200)}`;
        // Allowed means done: its real 2xx, not merely "not refused" (a 404 or a 500 is not allowed) —
        // but for a person on their own-tokens routes, where another's token is simply not found.
        if (want === "allowed" && c.ownForPeople && token.id.includes("@")) {
          expect([401, 403], where).not.toContain(answer.status);
          expect(answer.status, where).toBeLessThan(500);
        } else if (want === "allowed") expect(answer.status >= 200 && answer.status < 300, where).toBe(true);
        else if (want === 404 && c.hidden) c.hidden(answer);
        else expect(answer.status, where).toBe(want);
      }
      expect((await c.call("ymt_not-a-token")).status).toBe(401);
    });
  }

  it("lets every valid token read the queue registry and its counts", async () => {
    for (const token of Object.values(tokens)) {
      for (const path of ["/api/v1/queues", "/api/v1/queues/default", "/api/v1/queues/default/metrics"]) {
        expect((await api("GET", path, { token: token.token })).status, path).toBe(200);
      }
    }
    expect((await api("GET", "/api/v1/queues", { token: "ymt_not-a-token" })).status).toBe(401);
  });

  it("filters lists to the token's projects", async () => {
    const other = tokens.otherAdmin!.token;
    expect((await api("GET", "/api/v1/projects", { token: other })).json.items.map((p: any) => p.slug)).toEqual(["other"]);
    expect((await api("GET", "/api/v1/runs", { token: other })).json.items.every((r: any) => r.project === "other")).toBe(true);
    const queue = (await api("GET", "/api/v1/queue", { token: other })).json;
    expect([...queue.pending, ...queue.running].every((e: any) => e.project === "other")).toBe(true);
    expect((await api("GET", "/api/v1/queue", { token: tokens.read!.token })).json.pending.some((e: any) => e.project === P)).toBe(true);
  });

  it("covers every route of the API", async () => {
    const doc = (await api("GET", "/api/openapi.json", { token: null })).json;
    const routes = Object.entries(doc.paths as Record<string, Record<string, { security?: unknown[] }>>).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => JSON.stringify(op.security ?? []).includes("bearerAuth"))
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    const covered = new Set([...cases.map((c) => c.route), ...FILTERED, ...ANY_TOKEN, ...ELSEWHERE]);
    expect(routes.filter((r) => !covered.has(r)), "routes missing from the scope table").toEqual([]);
  });
});

describe("token lifecycle", () => {
  it("refuses an expired token with 401", async () => {
    const t = await newToken("short-lived", "read");
    expect((await api("GET", "/api/v1/projects", { token: t.token })).status).toBe(200);
    await env.DB.prepare("UPDATE tokens SET expires_at = ? WHERE id = ?").bind(Date.now() - 1000, t.id).run();
    const answer = await api("GET", "/api/v1/projects", { token: t.token });
    expect(answer.status).toBe(401);
    expect(answer.json.error.message).toBe("the token is unknown, revoked or expired");
  });

  it("refuses a revoked token with 401, and shows when a token was last used", async () => {
    const t = await newToken("revocable", "read");
    expect((await api("GET", "/api/v1/projects", { token: t.token })).status).toBe(200);
    const listed = (await api("GET", "/api/v1/tokens")).json.items.find((i: any) => i.id === t.id);
    expect(Date.now() - Date.parse(listed.lastUsedAt)).toBeLessThan(60_000);
    expect(JSON.stringify(listed)).not.toContain(t.token);
    const revoked = await api("DELETE", `/api/v1/tokens/${t.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.json.revokedAt).not.toBeNull();
    expect((await api("GET", "/api/v1/projects", { token: t.token })).status).toBe(401);
  });

  it("refuses an expiry in the past when creating a token", async () => {
    const answer = await api("POST", "/api/v1/tokens", { body: { name: "x", scopes: ["read"], expiresAt: "2001-01-01T00:00:00Z" } });
    expect(answer.status).toBe(400);
    expect(answer.json.error.message).toContain("expiresAt must be in the future");
  });
});
