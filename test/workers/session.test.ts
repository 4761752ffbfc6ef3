// The dashboard's sign-in (worker/routes/session.ts): a token becomes an HttpOnly, SameSite=Strict
// cookie that the API then accepts; bad tokens, other sites and non-JSON bodies are refused.
import { describe, expect, it } from "vitest";
import { ADMIN, api } from "./api-client.ts";

const cookieOf = (headers: Headers) => /ym_session=([^;]*)/.exec(headers.get("set-cookie") ?? "")?.[1];

describe("POST /api/v1/session", () => {
  it("sets an HttpOnly, SameSite=Strict cookie the API accepts, and says who signed in", async () => {
    const signed = await api("POST", "/api/v1/session", { token: null, body: { token: ADMIN } });
    expect(signed.status).toBe(200);
    expect(signed.json).toEqual({ kind: "admin", name: "admin", email: null, scopes: ["admin"], projects: null, roles: [{ project: null, role: "admin" }], token: null });
    const header = signed.headers.get("set-cookie")!;
    expect(header).toMatch(/HttpOnly/);
    expect(header).toMatch(/SameSite=Strict/);
    expect(header).toMatch(/Path=\//);
    expect(signed.headers.get("cache-control")).toBe("no-store");
    const cookie = `ym_session=${cookieOf(signed.headers)}`;
    expect((await api("GET", "/api/v1/projects", { token: null, headers: { cookie } })).status).toBe(200);
    expect((await api("GET", "/api/v1/session", { token: null, headers: { cookie } })).json.kind).toBe("admin");
  });

  it("accepts an API token and reports its name, scopes and projects", async () => {
    const made = await api("POST", "/api/v1/tokens", { body: { name: "viewer", scopes: ["read"] } });
    expect(made.status).toBe(201);
    const signed = await api("POST", "/api/v1/session", { token: null, body: { token: made.json.token } });
    expect(signed.json).toMatchObject({ kind: "token", name: "viewer", scopes: ["read"] });
  });

  it("refuses an unknown token without setting a cookie", async () => {
    const refused = await api("POST", "/api/v1/session", { token: null, body: { token: "ymt_nope" } });
    expect(refused.status).toBe(401);
    expect(refused.json.error.code).toBe("invalid_token");
    expect(refused.headers.get("set-cookie")).toBeNull();
  });

  it("refuses a sign-in from another site, and a form post", async () => {
    const cross = await api("POST", "/api/v1/session", { token: null, body: { token: ADMIN }, headers: { origin: "https://evil.example" } });
    expect(cross.status).toBe(403);
    expect(cross.headers.get("set-cookie")).toBeNull();
    const form = await api("POST", "/api/v1/session", { token: null, raw: `token=${ADMIN}`, headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(form.status).toBeGreaterThanOrEqual(400);
    expect(form.headers.get("set-cookie")).toBeNull();
  });
});

describe("GET and DELETE /api/v1/session", () => {
  it("answers 401 when nobody is signed in, and clears the cookie on sign-out", async () => {
    expect((await api("GET", "/api/v1/session", { token: null })).status).toBe(401);
    const out = await api("DELETE", "/api/v1/session", { token: null });
    expect(out.status).toBe(200);
    expect(out.headers.get("set-cookie")).toMatch(/ym_session=;.*Max-Age=0/);
  });
});
