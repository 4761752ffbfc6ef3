/**
 * Auth boundaries, each tried on every route it concerns (the routes come from the OpenAPI
 * document, so a new route is tried too): a job token works for its own job attempt only —
 * never another job, another run, the agent routes or the user API; an agent or registration
 * token never opens the user API; an expired or revoked API token is refused on every user
 * route; a revoked agent on every agent route; an ended job's token on every job route; an
 * artifact's bytes need a token that may see its project; a sign-in comes from this site only.
 * (Scopes and projects per route: scopes.test.ts; live-stream credentials: live-auth.test.ts.)
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent, sha256 } from "./agent-client.ts";

interface Route {
  method: string;
  path: string;
  security: string[];
}
let routes: Route[] = [];
const ids: Record<string, string> = {};
let mine: any;
let theirs: any;
let agent: { token: string; agentId: string };
let registration = "";
const bytes = new TextEncoder().encode("release notes\n");
let bytesSha = "";

beforeAll(async () => {
  const doc = (await api("GET", "/api/openapi.json", { token: null })).json;
  routes = Object.entries<any>(doc.paths).flatMap(([path, ops]) =>
    Object.entries<any>(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, security: (op.security ?? []).flatMap((s: any) => Object.keys(s)) })),
  );
  bytesSha = await sha256(bytes);
  await projectWithPipeline("fence");
  await projectWithPipeline("neighbour");
  registration = (await api("POST", "/api/v1/agent-tokens", { body: { name: "fence" } })).json.token;
  agent = await registerAgent("fence-agent", ["linux"], registration);
  const runA = (await api("POST", "/api/v1/projects/fence/pipelines/build/runs", { body: {} })).json;
  mine = (await claim(agent.token, 2)).json;
  const runB = (await api("POST", "/api/v1/projects/neighbour/pipelines/build/runs", { body: {} })).json;
  theirs = (await claim(agent.token, 2)).json;
  expect([mine.run.id, theirs.run.id]).toEqual([runA.id, runB.id]);
  const artifact = (await job(mine.token, mine.job.attemptId).artifact("notes.txt", bytes, await sha256(bytes))).json;
  Object.assign(ids, {
    project: "fence",
    pipeline: "build",
    run: runA.id,
    job: "test",
    id: "01900000-0000-7000-8000-000000000001",
    artifact: artifact.id,
    name: "SECRET",
    jobAttemptId: mine.job.attemptId,
    stepId: "install",
    uploadId: "nope",
    partNumber: "1",
  });
});

const fill = (path: string, values: Record<string, string> = ids) => path.replace(/\{(\w+)\}/g, (_, p: string) => values[p] ?? "x");
const userRoutes = () => routes.filter((r) => r.security.includes("bearerAuth"));
const jobRoutes = () => routes.filter((r) => r.security.includes("jobToken"));
const agentRoutes = () => routes.filter((r) => r.security.includes("agentToken"));

/**
 * A request each agent-protocol route would accept from the right token. The protocol's door
 * refuses the wrong kind of token before the body is read, but a token of the right kind is
 * checked by a Durable Object after validation, so only a valid request shows that a wrong
 * token is what stops it. A new agent route without an entry here fails the tests that use it.
 */
function validRequest(route: Route): { query?: string; body?: unknown; raw?: Uint8Array; headers?: Record<string, string> } | undefined {
  const octets = { raw: bytes, headers: { "content-type": "application/octet-stream" } };
  const tail = route.path.replace(/^.*\/api\/agent\/v[12]/, "");
  const table: Record<string, ReturnType<typeof validRequest>> = {
    "/register": { body: { name: "intruder", labels: [], version: "1" } },
    "/claim": { body: { waitSeconds: 0 } },
    "/heartbeat": { body: { jobs: [] } },
    "/stop": { body: {} },
    "/jobs/{jobAttemptId}/heartbeat": { body: {} },
    "/jobs/{jobAttemptId}/steps/{stepId}": { body: { attempt: 1, status: "RUNNING" } },
    "/jobs/{jobAttemptId}/finish": { body: { status: "FAILED", outputs: {} } },
    "/jobs/{jobAttemptId}/logs": { query: "?seq=0&offset=0", ...octets },
    "/jobs/{jobAttemptId}/artifacts": { query: `?name=x.txt&sha256=${bytesSha}&size=${bytes.byteLength}&contentType=text/plain`, ...octets },
    "/jobs/{jobAttemptId}/artifact-uploads": { body: { name: "big.bin", size: 200 * 1024 * 1024, sha256: bytesSha, contentType: "application/octet-stream" } },
    "/jobs/{jobAttemptId}/artifact-uploads/{uploadId}/parts/{partNumber}": octets,
    "/jobs/{jobAttemptId}/artifact-uploads/{uploadId}/complete": { body: { parts: [{ partNumber: 1, etag: "x" }] } },
    "/jobs/{jobAttemptId}/pipeline": { raw: new TextEncoder().encode("jobs:\n  x:\n    runs-on: [x]\n    steps: [{ run: x }]\n"), headers: { "content-type": "text/plain" } },
    "GET /jobs/{jobAttemptId}/cache": { query: "?key=k&restore=a,b" },
    "PUT /jobs/{jobAttemptId}/cache": { query: `?key=k&size=${bytes.byteLength}&sha256=${bytesSha}`, raw: bytes, headers: { "content-type": "application/gzip" } },
    "/jobs/{jobAttemptId}/cache/{entry}": {},
    "/jobs/{jobAttemptId}/cache-uploads": { body: { key: "k" } },
    "/jobs/{jobAttemptId}/cache-uploads/{uploadId}/parts/{partNumber}": octets,
    "/jobs/{jobAttemptId}/cache-uploads/{uploadId}/complete": { body: { parts: [{ partNumber: 1, etag: "x" }], size: 1, sha256: bytesSha } },
    "DELETE /jobs/{jobAttemptId}/cache-uploads/{uploadId}": {},
    "/jobs/{jobAttemptId}/run/artifacts": { query: "?job=build" },
    "/jobs/{jobAttemptId}/run/artifacts/{artifact}": {},
    // Protocol 2: a JobReport line, then the log chunk's bytes.
    "/jobs/{jobAttemptId}/report": { query: "?seq=0&offset=0", raw: new Uint8Array([...new TextEncoder().encode('{"steps":[]}\n'), ...bytes]), headers: octets.headers },
  };
  return /^\/api\/agent\/v[12]\//.test(route.path) ? (table[`${route.method.toUpperCase()} ${tail}`] ?? table[tail]) : undefined;
}

/** Sends `route` with `token`: a valid agent-protocol request, or an empty JSON body where one may go. */
async function call(route: Route, token: string | null, values?: Record<string, string>) {
  const valid = validRequest(route);
  if (/^\/api\/agent\/v[12]\//.test(route.path) && !valid) throw new Error(`no valid request known for ${route.method} ${route.path}: add one to validRequest`);
  const body = valid ? valid.body : route.method === "GET" || route.method === "DELETE" ? undefined : {};
  return api(route.method, `${fill(route.path, values)}${valid?.query ?? ""}`, { token, body, raw: valid?.raw, headers: valid?.headers });
}

async function expectAll(what: string, list: Route[], token: string | null, statuses: number[], values?: Record<string, string>) {
  const through: string[] = [];
  for (const route of list) {
    const res = await call(route, token, values);
    if (!statuses.includes(res.status)) through.push(`${route.method} ${route.path} → ${res.status} ${res.text.slice(0, 150)}`);
  }
  expect(through, `${what} got through:\n${through.join("\n")}`).toEqual([]);
}

describe("a job token", () => {
  it("opens nothing of the user API", async () => {
    await expectAll("a job token on the user API", userRoutes(), mine.token, [401]);
  });

  it("opens no agent-level route and cannot register an agent", async () => {
    await expectAll("a job token on agent routes", [...agentRoutes(), ...routes.filter((r) => r.security.includes("registrationToken"))], mine.token, [401]);
  });

  it("works for its own job attempt only: another job of another run is 403 on every job route", async () => {
    expect(jobRoutes().length).toBeGreaterThanOrEqual(7);
    await expectAll("a job token on another job", jobRoutes(), mine.token, [403], { ...ids, jobAttemptId: theirs.job.attemptId });
  });

  it("cannot be re-pointed at another run or job by editing it", async () => {
    const [, , , secret] = mine.token.split(".");
    const forgeries = [
      `ymj.${theirs.run.id}.${mine.job.attemptId}.${secret}`, // my job, routed to their run
      `ymj.${theirs.run.id}.${theirs.job.attemptId}.${secret}`, // their job, my secret
      `ymj.${mine.run.id}.${mine.job.attemptId}.${secret}x`,
      `ymj.${mine.run.id}.${mine.job.attemptId}`,
      `yma.default.${mine.job.attemptId}.${secret}`,
    ];
    for (const forged of forgeries) {
      const target = forged.split(".")[2] ?? mine.job.attemptId;
      await expectAll(`the forged token ${forged.slice(0, 60)}`, jobRoutes(), forged, [401], { ...ids, jobAttemptId: target });
    }
    // The real one still works.
    expect((await job(mine.token, mine.job.attemptId).heartbeat()).json).toEqual({ cancel: false });
  });
});

describe("agent and registration tokens", () => {
  it("open nothing of the user API", async () => {
    await expectAll("an agent token on the user API", userRoutes(), agent.token, [401]);
    await expectAll("a registration token on the user API", userRoutes(), registration, [401]);
  });

  it("an agent token opens no job route; an API token no agent route", async () => {
    await expectAll("an agent token on job routes", jobRoutes(), agent.token, [401]);
    await expectAll("the admin token on job routes", jobRoutes(), "test-admin-token", [401]);
    await expectAll("the admin token on agent routes", agentRoutes(), "test-admin-token", [401]);
  });
});

describe("the agent protocol's door", () => {
  it("refuses a missing or wrong kind of token before it reads the body: 401, not 400", async () => {
    const garbage = { raw: new TextEncoder().encode("{not json"), headers: { "content-type": "application/json" } };
    const through: string[] = [];
    for (const route of [...agentRoutes(), ...jobRoutes(), ...routes.filter((r) => r.path.endsWith("/register"))]) {
      for (const token of [null, "test-admin-token"]) {
        // A GET carries no body (fetch refuses one): the token is still what must stop it.
        const res = await api(route.method, fill(route.path), { token, ...(route.method.toUpperCase() === "GET" ? {} : garbage) });
        if (res.status !== 401) through.push(`${route.method} ${route.path} (${token ?? "no token"}) → ${res.status} ${res.text.slice(0, 120)}`);
      }
    }
    expect(through, through.join("\n")).toEqual([]);
  });

  it("refuses another job's token on a job's routes before it reads the body: 403", async () => {
    const through: string[] = [];
    for (const route of jobRoutes()) {
      const res = await api(route.method, fill(route.path, { ...ids, jobAttemptId: theirs.job.attemptId }), {
        token: mine.token,
        ...(route.method.toUpperCase() === "GET" ? {} : { raw: new TextEncoder().encode("{not json"), headers: { "content-type": "application/json" } }),
      });
      if (res.status !== 403) through.push(`${route.method} ${route.path} → ${res.status} ${res.text.slice(0, 120)}`);
    }
    expect(through, through.join("\n")).toEqual([]);
  });
});

describe("expired and revoked credentials are refused everywhere", () => {
  async function apiToken(name: string) {
    const created = (await api("POST", "/api/v1/tokens", { body: { name, scopes: ["admin"] } })).json;
    expect((await api("GET", "/api/v1/projects", { token: created.token })).status).toBe(200);
    return created as { token: string; id: string };
  }

  it("an expired API token: 401 on every user route", async () => {
    const t = await apiToken("expiring");
    await env.DB.prepare("UPDATE tokens SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, t.id).run();
    await expectAll("an expired token", userRoutes(), t.token, [401]);
  });

  it("a revoked API token: 401 on every user route, and its live tickets die with it", async () => {
    const t = await apiToken("revoked");
    const ticket = (await api("POST", "/api/v1/live-tickets", { token: t.token })).json.ticket;
    expect((await api("DELETE", `/api/v1/tokens/${t.id}`)).status).toBe(200);
    await expectAll("a revoked token", userRoutes(), t.token, [401]);
    const live = await api("GET", `/api/v1/runs/${ids.run}/live?ticket=${encodeURIComponent(ticket)}`, { token: null, headers: { upgrade: "websocket" } });
    expect(live.status).toBe(401);
  });

  it("a revoked agent: 401 on every agent route; a revoked registration token registers nothing", async () => {
    const other = await registerAgent("doomed", ["nothing-here"], registration);
    expect((await api("DELETE", `/api/v1/agents/${other.agentId}`)).status).toBe(200);
    await expectAll("a revoked agent", agentRoutes(), other.token, [401]);
    const reg = (await api("POST", "/api/v1/agent-tokens", { body: { name: "short" } })).json;
    expect((await api("DELETE", `/api/v1/agent-tokens/${reg.id}`)).status).toBe(200);
    const refused = await api("POST", "/api/agent/v1/register", { token: reg.token, body: { name: "x", labels: [], version: "1" } });
    expect(refused.status).toBe(401);
  });

  it("an ended job's token: 410 on every job route but late log chunks, and on those once the grace is over", async () => {
    await projectWithPipeline("ended");
    const reg = await registerAgent("ender", ["linux"], registration);
    await api("POST", "/api/v1/projects/ended/pipelines/build/runs", { body: {} });
    const a = (await claim(reg.token, 2)).json;
    const ended = job(a.token, a.job.attemptId);
    expect((await ended.finish({ status: "SUCCESS", outputs: {} })).status).toBe(200);
    // The same finish again is a resend after a lost answer, and is answered as done; anything else is refused.
    expect((await ended.finish({ status: "SUCCESS", outputs: {} })).status).toBe(200);
    const refused: string[] = [];
    for (const route of jobRoutes()) {
      const res = await call(route, a.token, { ...ids, jobAttemptId: a.job.attemptId });
      // Late log chunks of a job that ended normally are kept for a grace (docs/reliability.md),
      // by v1's log route and by a v2 report that carries one and nothing else.
      const want = route.path.endsWith("/logs") || route.path.endsWith("/report") ? 200 : 410;
      if (res.status !== want) refused.push(`${route.method} ${route.path} → ${res.status} ${res.text.slice(0, 120)}`);
    }
    expect(refused).toEqual([]);
    // Once the grace (YM_LATE_LOG_GRACE_SECONDS, 3 s in vitest.config.ts) is over: 410 for those too.
    const view = (await api("GET", `/api/v1/runs/${a.run.id}`)).json;
    const attempts = view.attempts[0].jobs.flatMap((j: { attempts: { id: string; endedAt: string }[] }) => j.attempts);
    const endedAt = Date.parse(attempts.find((x: { id: string }) => x.id === a.job.attemptId).endedAt);
    while (Date.now() < endedAt + 3_100) await new Promise((r) => setTimeout(r, 250));
    const late = await ended.log(0, 0, new TextEncoder().encode("too late\n"));
    expect([late.status, late.json.error.code]).toEqual([410, "job_ended"]);
    expect((await ended.finish({ status: "SUCCESS", outputs: {} })).status).toBe(410);
  });
});

describe("signing in to the dashboard", () => {
  it("only from this site: a foreign, null or unparsable Origin is 403 and sets no cookie", async () => {
    // "'" was a 500 (new URL threw) until the route fuzzer found it.
    for (const origin of ["'", "null", "http://", "https://evil.example", "http://yardmaster.test.evil.example"]) {
      const res = await api("POST", "/api/v1/session", { token: null, body: { token: "test-admin-token" }, headers: { origin } });
      expect([origin, res.status, res.json.error?.code]).toEqual([origin, 403, "cross_origin"]);
      expect(res.headers.get("set-cookie")).toBeNull();
    }
    const same = await api("POST", "/api/v1/session", { token: null, body: { token: "test-admin-token" }, headers: { origin: "http://yardmaster.test" } });
    expect(same.status).toBe(200);
    expect(same.headers.get("set-cookie")).toMatch(/^ym_session=/);
  });
});

describe("artifact downloads", () => {
  it("need a token that may see the artifact's project", async () => {
    const download = `/api/v1/artifacts/${ids.artifact}/download`;
    const meta = `/api/v1/artifacts/${ids.artifact}`;
    const read = (await api("POST", "/api/v1/tokens", { body: { name: "r", scopes: ["read"], projects: ["fence"] } })).json.token;
    const elsewhere = (await api("POST", "/api/v1/tokens", { body: { name: "n", scopes: ["admin"], projects: ["neighbour"] } })).json.token;
    const ticket = (await api("POST", "/api/v1/live-tickets")).json.ticket;
    for (const path of [download, meta]) {
      expect((await api("GET", path, { token: null })).status, `${path} without a token`).toBe(401);
      for (const token of ["ymt_forged", mine.token, agent.token, registration]) expect((await api("GET", path, { token })).status, `${path} with ${token.slice(0, 4)}`).toBe(401);
      expect((await api("GET", `${path}?ticket=${encodeURIComponent(ticket)}`, { token: null })).status).toBe(401);
      expect((await api("GET", path, { token: elsewhere })).status, "another project's token").toBe(404);
    }
    const ok = await api("GET", download, { token: read });
    expect(ok.status).toBe(200);
    expect(ok.text).toBe("release notes\n");
    expect(ok.headers.get("content-disposition")).toMatch(/^attachment;/);
    expect(ok.headers.get("x-content-type-options")).toBe("nosniff");
    const cookie = await api("GET", download, { token: null, headers: { cookie: `ym_session=${read}` } });
    expect(cookie.status).toBe(200);
  });
});
