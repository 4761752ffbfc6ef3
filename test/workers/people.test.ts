/**
 * People and roles (docs/security.md "People"): the roles of a person signed in through
 * Cloudflare Access decide what they may do, by the same rules as token scopes; a person's
 * token never exceeds their roles, now or later; and the audit log records the grant, the
 * trigger and the cancel with their actor, for admins only.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { newKey, person, Team } from "./access-helpers.ts";
import { api, projectWithPipeline } from "./api-client.ts";

const team = new Team("https://people.cloudflareaccess.test");

beforeAll(async () => {
  team.published = [await newKey("k1")];
  team.serve();
  await projectWithPipeline("web");
  await projectWithPipeline("infra");
});

const trigger = (as: string, project = "web") => api("POST", `/api/v1/projects/${project}/pipelines/build/runs`, { token: as, body: {} });

describe("people", () => {
  it("a person with read cannot trigger; granted run, they can", async () => {
    const ada = await person(team, "ada@example.com", [{ project: "web", role: "read" }]);
    expect((await api("GET", "/api/v1/projects/web", { token: ada })).status).toBe(200);
    const refused = await trigger(ada);
    expect(refused.status).toBe(403);
    expect(refused.json.error.message).toContain("'run'");
    // Nothing of infra is visible.
    expect((await api("GET", "/api/v1/projects", { token: ada })).json.items.map((p: { slug: string }) => p.slug)).toEqual(["web"]);

    await person(team, "ada@example.com", [{ project: "web", role: "run" }]); // replaces read on web
    const run = await trigger(ada);
    expect(run.status, run.text).toBe(201);
    expect(run.json.trigger).toBe("manual");
    const me = await api("GET", "/api/v1/me", { token: ada });
    expect(me.json).toMatchObject({ kind: "user", email: "ada@example.com", roles: [{ project: "web", role: "run" }], token: null });
  });

  it("roles differ per project: read everywhere and run on one project do not cancel elsewhere", async () => {
    const bo = await person(team, "bo@example.com", [
      { project: null, role: "read" },
      { project: "infra", role: "run" },
    ]);
    const webRun = (await trigger(ADMIN_TOKEN)).json;
    expect((await api("GET", `/api/v1/runs/${webRun.id}`, { token: bo })).status).toBe(200);
    expect((await api("POST", `/api/v1/runs/${webRun.id}/cancel`, { token: bo })).status).toBe(403);
    expect((await trigger(bo, "web")).status).toBe(403);
    expect((await trigger(bo, "infra")).status).toBe(201);
  });

  it("a person's token never exceeds their roles, and loses a role when the person does", async () => {
    const cy = await person(team, "cy@example.com", [{ project: "web", role: "run" }]);
    const tooMuch = await api("POST", "/api/v1/tokens", { token: cy, body: { name: "ci", scopes: ["admin"], projects: ["web"] } });
    expect(tooMuch.status).toBe(403);
    expect(tooMuch.json.error.message).toContain("cannot exceed its owner's roles");
    expect((await api("POST", "/api/v1/tokens", { token: cy, body: { name: "ci", scopes: ["run"] } })).status).toBe(403); // every project
    const made = await api("POST", "/api/v1/tokens", { token: cy, body: { name: "ci", scopes: ["run"], projects: ["web"] } });
    expect(made.status, made.text).toBe(201);
    expect(made.json.owner).toBe("cy@example.com");
    const token = made.json.token as string;
    const me = (await api("GET", "/api/v1/me", { token })).json;
    expect(me).toMatchObject({ kind: "token", email: null, token: { id: made.json.id, name: "ci", owner: "cy@example.com" }, roles: [{ project: "web", role: "run" }] });
    expect((await trigger(token)).status).toBe(201);
    // The person lists and may revoke their own tokens, and only those.
    const own = await api("GET", "/api/v1/tokens", { token: cy });
    expect(own.json.items.map((t: { id: string }) => t.id)).toEqual([made.json.id]);
    const others = (await api("POST", "/api/v1/tokens", { body: { name: "not cy's", scopes: ["read"] } })).json;
    expect((await api("DELETE", `/api/v1/tokens/${others.id}`, { token: cy })).status).toBe(404);
    expect((await api("GET", "/api/v1/projects", { token: others.token })).status).toBe(200);

    // Lowered to read: the token can no longer trigger; removed: it sees nothing.
    await person(team, "cy@example.com", [{ project: "web", role: "read" }]);
    expect((await trigger(token)).status).toBe(403);
    expect((await api("GET", "/api/v1/projects/web", { token })).status).toBe(200);
    const removed = await api("DELETE", "/api/v1/users/cy%40example.com/roles", { body: { project: "web", role: "read" } });
    expect(removed.status, removed.text).toBe(200);
    expect(removed.json.roles).toEqual([]);
    expect((await api("GET", "/api/v1/projects/web", { token })).status).toBe(403);
    // Removing a role the person does not have is a 404, and records nothing.
    const again = await api("DELETE", "/api/v1/users/cy%40example.com/roles", { body: { project: "web", role: "read" } });
    expect(again.status).toBe(404);
    const log = (await api("GET", "/api/v1/audit?action=role.remove")).json.items.filter((e: { target: string }) => e.target.startsWith("cy@"));
    expect(log).toHaveLength(1);
  });

  it("takes a person's changes only from this site's pages (Access's cookie rides along on others')", async () => {
    const eli = await person(team, "eli@example.com", [{ project: "web", role: "run" }]);
    const post = (headers: Record<string, string>) => api("POST", "/api/v1/projects/web/pipelines/build/runs", { token: eli, body: {}, headers });
    const attempts: Record<string, string>[] = [{ origin: "https://evil.example" }, { origin: "null" }, { "sec-fetch-site": "cross-site" }];
    for (const headers of attempts) {
      const refused = await post(headers);
      expect([refused.status, refused.json.error.code], JSON.stringify(headers)).toEqual([403, "cross_origin"]);
    }
    expect((await post({ origin: "http://yardmaster.test", "sec-fetch-site": "same-origin" })).status).toBe(201);
    // Reading is not a change: another site's page cannot read the answer anyway (no CORS).
    expect((await api("GET", "/api/v1/projects/web", { token: eli, headers: { origin: "https://evil.example" } })).status).toBe(200);
  });

  it("refuses a bad grant with a 4xx that says what to fix", async () => {
    expect((await api("PUT", "/api/v1/users/not-an-email/roles", { body: { project: null, role: "read" } })).status).toBe(400);
    expect((await api("PUT", "/api/v1/users/x%40example.com/roles", { body: { project: null, role: "owner" } })).status).toBe(400);
    const unknown = await api("PUT", "/api/v1/users/x%40example.com/roles", { body: { project: "nope", role: "read" } });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("project_not_found");
  });

  it("records the grant, the trigger and the cancel with their actor; a non-admin cannot read the log", async () => {
    const di = await person(team, "di@example.com", [{ project: "web", role: "run" }]);
    const run = (await trigger(di)).json;
    expect((await api("POST", `/api/v1/runs/${run.id}/cancel`, { token: di })).status).toBe(200);

    // The run shows who triggered and who cancelled it.
    const view = (await api("GET", `/api/v1/runs/${run.id}`, { token: di })).json;
    const di_ = { kind: "user", id: "di@example.com", name: "di@example.com" };
    expect(view.triggeredBy).toEqual(di_);
    expect(view.actions.map((a: { action: string; actor: unknown }) => [a.action, a.actor])).toEqual([
      ["run.trigger", di_],
      ["run.cancel", di_],
    ]);

    const forbidden = await api("GET", "/api/v1/audit", { token: di });
    expect(forbidden.status).toBe(403);
    const byDi = (await api("GET", "/api/v1/audit?actor=di%40example.com")).json.items;
    expect(byDi.map((e: { action: string }) => e.action)).toEqual(["run.cancel", "run.trigger"]);
    for (const e of byDi) expect(e).toMatchObject({ actor: { kind: "user", id: "di@example.com", name: "di@example.com" }, project: "web", target: run.id });
    const grant = (await api("GET", "/api/v1/audit?action=role.grant")).json.items.find((e: { target: string }) => e.target === "di@example.com: run on web");
    expect(grant).toMatchObject({ actor: { kind: "system", id: "admin-token" }, project: "web" });

    // Pages: newest first, the cursor continues where the page ended.
    const first = (await api("GET", "/api/v1/audit?limit=2")).json;
    expect(first.items).toHaveLength(2);
    const next = (await api("GET", `/api/v1/audit?limit=2&cursor=${first.cursor}`)).json;
    expect(next.items[0].id < first.items[1].id).toBe(true);
  });
});

const ADMIN_TOKEN = undefined as unknown as string; // api()'s default: the admin token
