/**
 * A Cloudflare Access stand-in for workerd tests: RSA keys made here with Web Crypto, a JWKS the
 * worker fetches from `<team domain>/cdn-cgi/access/certs` (global fetch, stubbed in this isolate),
 * and assertions signed like Access signs them. `accessApi` calls the real app with the Access
 * vars set, so no other test file sees them.
 */
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import { createApp } from "../../worker/app.ts";
import { readReply } from "../support/reply.ts";
import { api, ASSERTION_PREFIX, useAccessVars } from "./api-client.ts";

export const AUD = "test-access-aud";

export interface AccessKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JsonWebKey & { kid: string };
}

const b64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const encodeJson = (value: unknown) => b64url(new TextEncoder().encode(JSON.stringify(value)));

export async function newKey(kid: string): Promise<AccessKey> {
  const pair = (await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
  const jwk = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as JsonWebKey;
  return { kid, privateKey: pair.privateKey, jwk: { kty: "RSA", n: jwk.n, e: jwk.e, alg: "RS256", use: "sig", kid } };
}

/** A team: its domain, the keys its JWKS publishes now, and how often it was fetched. */
export class Team {
  published: AccessKey[] = [];
  fetches = 0;
  constructor(readonly domain: string) {}

  /** Serves this team's JWKS to the worker (other URLs go to the real fetch). */
  serve(): void {
    const real = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url === `${this.domain}/cdn-cgi/access/certs`) {
        this.fetches++;
        return Response.json({ keys: this.published.map((k) => k.jwk), public_cert: {}, public_certs: [] });
      }
      return real(input, init);
    });
  }

  async assertion(key: AccessKey, claims: Record<string, unknown> = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const header = encodeJson({ alg: "RS256", kid: key.kid, typ: "JWT" });
    const payload = encodeJson({ aud: [AUD], email: "ada@example.com", exp: now + 3600, iat: now, nbf: now, iss: this.domain, type: "app", sub: "u1", ...claims });
    const signature = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key.privateKey, new TextEncoder().encode(`${header}.${payload}`)));
    return `${header}.${payload}.${b64url(signature)}`;
  }
}

const app = createApp();

/** Calls the API as a browser behind Access would (no bearer token), with the Access vars set. */
export async function accessApi(team: Team, method: string, path: string, options: { assertion?: string; body?: unknown; token?: string } = {}) {
  const headers: Record<string, string> = {};
  if (options.assertion) headers["cf-access-jwt-assertion"] = options.assertion;
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await app.request(
    `http://yardmaster.test${path}`,
    { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) },
    { ...env, YM_ACCESS_TEAM_DOMAIN: team.domain, YM_ACCESS_AUD: AUD },
  );
  return readReply(response);
}

/**
 * A person with these roles, as a "token" for `api()` (api-client.ts): the team's JWKS is served
 * and the Access vars are set for such calls. Roles are granted with the admin token.
 */
export async function person(team: Team, email: string, roles: { project: string | null; role: "read" | "run" | "admin" }[]): Promise<string> {
  useAccessVars({ YM_ACCESS_TEAM_DOMAIN: team.domain, YM_ACCESS_AUD: AUD });
  for (const role of roles) {
    const granted = await api("PUT", `/api/v1/users/${encodeURIComponent(email)}/roles`, { body: role });
    if (granted.status !== 200) throw new Error(`grant: ${granted.status} ${granted.text}`);
  }
  return ASSERTION_PREFIX + (await team.assertion(team.published[0]!, { email }));
}
