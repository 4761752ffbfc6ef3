// Who may open a live stream: a bearer token, the session cookie (same origin only), or a
// short-lived ticket from POST /api/v1/live-tickets — so a browser never puts its token in a URL.
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { redeemTicket, TICKET_TTL_MS } from "../../worker/auth/live-ticket.ts";
import { ApiError } from "../../worker/http/errors.ts";
import { newKey, person, Team } from "./access-helpers.ts";
import { api, projectWithPipeline } from "./api-client.ts";
import { openLive } from "./live-helpers.ts";

const WS = { upgrade: "websocket" };

async function run(slug: string) {
  await projectWithPipeline(slug);
  return (await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`)).json as { id: string };
}

async function ticketFor(token?: string) {
  const issued = await api("POST", "/api/v1/live-tickets", token === undefined ? {} : { token });
  expect(issued.status).toBe(201);
  expect(Date.parse(issued.json.expiresAt) - Date.now()).toBeLessThanOrEqual(TICKET_TTL_MS);
  return issued.json.ticket as string;
}

describe("live stream authentication", () => {
  it("opens a stream with a ticket instead of a token, and refuses a forged one", async () => {
    const { id } = await run("auth-ticket");
    const ticket = await ticketFor();
    expect(ticket).toMatch(/^ymlt\./);
    const viewer = await openLive(`/api/v1/runs/${id}/live?ticket=${encodeURIComponent(ticket)}`, { token: null });
    await viewer.until("the snapshot", () => viewer.frames[0]);
    expect(viewer.frames[0]).toMatchObject({ type: "snapshot", run: { id } });

    const [prefix, body, signature] = ticket.split(".");
    const forgedBody = btoa(JSON.stringify({ v: 1, exp: Date.now() + 60_000, p: { kind: "admin", via: "bearer" } })).replace(/=+$/, "");
    for (const bad of [`${prefix}.${forgedBody}.${signature}`, `${ticket}x`, `${ticket}xy`, `ymlt.a.${signature}`, "ymlt.nope", "garbage"]) {
      const refused = await api("GET", `/api/v1/runs/${id}/live?ticket=${encodeURIComponent(bad)}`, { token: null, headers: WS });
      expect([bad, refused.status, refused.json.error.code]).toEqual([bad, 401, "invalid_ticket"]);
      expect(refused.json.error.message).toContain("POST /api/v1/live-tickets");
    }
    expect(body).toBeTruthy();
  });

  it("a ticket expires, dies with its token, and opens nothing but live streams", async () => {
    await expect(redeemTicket(env, await ticketFor(), Date.now() + TICKET_TTL_MS + 1)).rejects.toThrow(ApiError);

    const created = (await api("POST", "/api/v1/tokens", { body: { name: "watcher", scopes: ["read"] } })).json;
    const ticket = await ticketFor(created.token);
    expect(await redeemTicket(env, ticket)).toMatchObject({ kind: "token", tokenId: created.id });
    expect((await api("DELETE", `/api/v1/tokens/${created.id}`)).status).toBe(200);
    await expect(redeemTicket(env, ticket)).rejects.toThrow(/revoked or expired/);

    const rest = await api("GET", `/api/v1/runs?ticket=${encodeURIComponent(await ticketFor())}`, { token: null });
    expect(rest.status).toBe(401);
    expect((await api("POST", "/api/v1/live-tickets", { token: null })).status).toBe(401);
  });

  it("accepts the session cookie from this site only", async () => {
    const { id } = await run("auth-cookie");
    const cookie = { cookie: "ym_session=test-admin-token" };
    const same = await openLive(`/api/v1/runs/${id}/live`, { token: null, headers: { ...cookie, origin: "http://yardmaster.test" } });
    await same.until("the snapshot", () => same.frames[0]);
    const foreign = await api("GET", `/api/v1/runs/${id}/live`, { token: null, headers: { ...WS, ...cookie, origin: "https://evil.example" } });
    expect([foreign.status, foreign.json.error.code]).toEqual([403, "cross_origin"]);
    const sandboxed = await api("GET", `/api/v1/runs/${id}/live`, { token: null, headers: { ...WS, ...cookie, origin: "null" } });
    expect(sandboxed.status).toBe(403);
  });

  it("a person behind Access opens streams from this site only; their ticket carries their current roles", async () => {
    const { id } = await run("auth-person");
    const team = new Team("https://live.cloudflareaccess.test");
    team.published = [await newKey("k1")];
    team.serve();
    const eve = await person(team, "eve@example.com", []);
    // Signed in (not 401), but without a role: 403 forbidden; from another site: cross_origin.
    const same = await api("GET", `/api/v1/runs/${id}/live`, { token: eve, headers: { ...WS, origin: "http://yardmaster.test" } });
    expect([same.status, same.json.error.code]).toEqual([403, "forbidden"]);
    const foreign = await api("GET", `/api/v1/runs/${id}/live`, { token: eve, headers: { ...WS, origin: "https://evil.example" } });
    expect([foreign.status, foreign.json.error.code]).toEqual([403, "cross_origin"]);

    const reader = await person(team, "eve@example.com", [{ project: "auth-person", role: "read" }]);
    const issued = await api("POST", "/api/v1/live-tickets", { token: reader, body: {} });
    expect(issued.status, issued.text).toBe(201);
    expect(await redeemTicket(env, issued.json.ticket)).toMatchObject({ kind: "user", email: "eve@example.com", grants: [{ project: "auth-person", scope: "read" }] });
    expect((await api("DELETE", "/api/v1/users/eve%40example.com/roles", { body: { project: "auth-person", role: "read" } })).status).toBe(200);
    expect(await redeemTicket(env, issued.json.ticket)).toMatchObject({ kind: "user", grants: [] });
    vi.restoreAllMocks();
  });

  it("documents the live routes in the OpenAPI document", async () => {
    const doc = (await api("GET", "/api/openapi.json", { token: null })).json;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/api/v1/runs/{run}/live", "/api/v1/queue/live", "/api/v1/live-tickets"]));
    expect(doc.paths["/api/v1/runs/{run}/live"].get.responses).toHaveProperty("101");
    expect(doc.components.securitySchemes.liveTicket).toMatchObject({ type: "apiKey", in: "query", name: "ticket" });
  });
});
