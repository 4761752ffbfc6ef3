/**
 * Cloudflare Access sign-in (docs/security.md "People"): the worker verifies the assertion
 * against the team's JWKS, served here by the test from keys it made. Each case uses its own
 * team domain, so the worker's key cache starts empty for it.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { api } from "./api-client.ts";
import { CLOCK_SKEW_SECONDS } from "../../worker/auth/access.ts";
import { AUD, accessApi, newKey, Team } from "./access-helpers.ts";

let teams = 0;
async function team() {
  const t = new Team(`https://team-${++teams}.cloudflareaccess.test`);
  t.published = [await newKey("k1")];
  t.serve();
  return t;
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe("Access sign-in", () => {
  it("signs a person in from a valid assertion alone, first with no rights", async () => {
    const t = await team();
    const assertion = await t.assertion(t.published[0]!, { email: "Ada@Example.com" });
    const me = await accessApi(t, "GET", "/api/v1/session", { assertion });
    expect(me.status, me.text).toBe(200);
    expect(me.json).toMatchObject({ kind: "user", name: "ada@example.com", email: "ada@example.com", roles: [], token: null });
    const projects = await accessApi(t, "GET", "/api/v1/projects", { assertion });
    expect(projects.status).toBe(403);
    expect(projects.json.error.message).toContain("'read'");
    // The person now exists, for an admin to grant roles to.
    expect((await api("GET", "/api/v1/users")).json.items.map((u: { email: string }) => u.email)).toContain("ada@example.com");
  });

  it("refuses forged, expired, not-yet-valid, wrong-audience, wrong-issuer and malformed assertions with a 401 that says why", async () => {
    const t = await team();
    const key = t.published[0]!;
    const impostor = await newKey("k1"); // same kid, another private key
    const cases: [string, string, RegExp][] = [
      ["forged", await t.assertion(impostor), /forged/],
      ["expired", await t.assertion(key, { exp: Math.floor(Date.now() / 1000) - 3600 }), /expired/],
      ["not yet valid", await t.assertion(key, { nbf: Math.floor(Date.now() / 1000) + 3600 }), /not valid yet/],
      ["wrong audience", await t.assertion(key, { aud: ["someone-else"] }), /another application/],
      ["wrong issuer", await t.assertion(key, { iss: "https://evil.cloudflareaccess.test" }), /issued by/],
      ["no email", await t.assertion(key, { email: undefined }), /names no person/],
      ["malformed", "not.a-jwt", /malformed/],
      ["garbage parts", "e30.e30.!!!", /malformed|algorithm/],
      ["alg none", `${btoa(JSON.stringify({ alg: "none", kid: "k1" })).replace(/=+$/, "")}.e30.sig`, /RS256/],
    ];
    for (const [what, assertion, message] of cases) {
      const answer = await accessApi(t, "GET", "/api/v1/projects", { assertion });
      expect(answer.status, `${what}: ${answer.text}`).toBe(401);
      expect(answer.json.error.code, what).toBe("invalid_access_assertion");
      expect(answer.json.error.message, what).toMatch(message);
    }
    // The session route says the same, rather than a 500 or "not signed in".
    const forged = await accessApi(t, "GET", "/api/v1/session", { assertion: cases[0]![1] });
    expect(forged.status).toBe(401);
    expect(forged.json.error.code).toBe("invalid_access_assertion");
  });

  it("allows the clocks a small skew on expiry and not-before, and no more", async () => {
    const t = await team();
    const key = t.published[0]!;
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Record<string, number>, number][] = [
      ["expired within the skew", { exp: now - (CLOCK_SKEW_SECONDS - 10) }, 200],
      ["valid soon, within the skew", { nbf: now + (CLOCK_SKEW_SECONDS - 10) }, 200],
      ["expired beyond the skew", { exp: now - (CLOCK_SKEW_SECONDS + 10) }, 401],
      ["valid later, beyond the skew", { nbf: now + (CLOCK_SKEW_SECONDS + 10) }, 401],
    ];
    for (const [what, claims, status] of cases) {
      const answer = await accessApi(t, "GET", "/api/v1/session", { assertion: await t.assertion(key, claims) });
      expect(answer.status, `${what}: ${answer.text}`).toBe(status);
    }
  });

  it("refetches the JWKS for an unknown kid (key rotation), at most once per interval", async () => {
    const t = await team();
    const old = t.published[0]!;
    expect((await accessApi(t, "GET", "/api/v1/session", { assertion: await t.assertion(old) })).status).toBe(200);
    expect(t.fetches).toBe(1);
    // Known keys are served from memory.
    expect((await accessApi(t, "GET", "/api/v1/session", { assertion: await t.assertion(old) })).status).toBe(200);
    expect(t.fetches).toBe(1);

    const rotated = await newKey("k2");
    t.published = [rotated];
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 1_000);
    // Within the interval an unknown kid does not reach the certs endpoint again.
    const early = await accessApi(t, "GET", "/api/v1/session", { assertion: await t.assertion(rotated) });
    expect(early.status).toBe(401);
    expect(early.json.error.message).toContain("unknown key 'k2'");
    expect(t.fetches).toBe(1);

    vi.setSystemTime(Date.now() + 11_000);
    const later = await accessApi(t, "GET", "/api/v1/session", { assertion: await t.assertion(rotated) });
    expect(later.status, later.text).toBe(200);
    expect(t.fetches).toBe(2);
    // A made-up kid right after the refresh costs no fetch either.
    expect((await accessApi(t, "GET", "/api/v1/session", { assertion: await t.assertion(await newKey("made-up")) })).status).toBe(401);
    expect(t.fetches).toBe(2);
  });

  it("answers 401 (not 500) while the certs endpoint fails, and does not hammer it", async () => {
    const t = await team();
    vi.restoreAllMocks();
    let calls = 0;
    const real = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url.startsWith(t.domain)) {
        calls++;
        return new Response("bad gateway", { status: 502 });
      }
      return real(input, init);
    });
    const assertion = await t.assertion(t.published[0]!);
    for (let i = 0; i < 3; i++) {
      const answer = await accessApi(t, "GET", "/api/v1/session", { assertion });
      expect(answer.status).toBe(401);
      expect(answer.json.error.message).toMatch(/could not be fetched|unknown key/);
    }
    expect(calls).toBe(1);
  });

  it("ignores the header when the deployment does not use Access (tokens as before)", async () => {
    const t = await team();
    const answer = await api("GET", "/api/v1/projects", { token: null, headers: { "cf-access-jwt-assertion": await t.assertion(t.published[0]!) } });
    expect(answer.status).toBe(401);
    expect(answer.json.error.message).toContain("Authorization: Bearer");
    expect(t.fetches).toBe(0);
    expect(AUD).toBeTruthy();
  });
});
