/**
 * Cloudflare Access sign-in (docs/security.md "People"). When YM_ACCESS_TEAM_DOMAIN and
 * YM_ACCESS_AUD are both set, a request carrying `Cf-Access-Jwt-Assertion` is a person: the
 * assertion is an RS256 JWT signed by one of the team's keys, published as a JWKS at
 * `<team domain>/cdn-cgi/access/certs`. It is checked here with Web Crypto only (no JOSE
 * dependency: one algorithm, one key type, a few claims — less code than the library's surface):
 * the signature against the key named by `kid`, `iss` = the team domain, `aud` contains
 * YM_ACCESS_AUD, `exp` and `nbf` within CLOCK_SKEW_SECONDS, and an `email`.
 *
 * The keys are cached in memory per team domain. A `kid` the cache does not know means Access
 * rotated its keys: the JWKS is fetched again, at most once per REFRESH_MIN_INTERVAL_MS (and one
 * fetch at a time), so a stream of assertions with made-up `kid`s cannot make the worker hammer
 * the certs endpoint. Every failure is an AccessError (a 401 that says why), never a 500.
 */
import type { Env } from "../../platform/env.ts";
import { fromBase64url } from "../../platform/crypto.ts";

export const ACCESS_HEADER = "cf-access-jwt-assertion";
/** Clock difference tolerated between Access and this worker, for `exp` and `nbf`. */
export const CLOCK_SKEW_SECONDS = 60;
/** An unknown `kid` refetches the JWKS at most this often. */
export const REFRESH_MIN_INTERVAL_MS = 10_000;

export class AccessError extends Error {
  override readonly name = "AccessError";
}

export interface AccessConfig {
  /** `https://<team>.cloudflareaccess.com`, no trailing slash: the JWT's `iss`. */
  teamDomain: string;
  audience: string;
}

/** The Access settings, or null when the deployment does not use Access (both vars are needed). */
export function accessConfig(env: Env): AccessConfig | null {
  const domain = env.YM_ACCESS_TEAM_DOMAIN?.trim();
  const audience = env.YM_ACCESS_AUD?.trim();
  if (!domain || !audience) return null;
  const withScheme = /^https?:\/\//.test(domain) ? domain : `https://${domain}`;
  return { teamDomain: withScheme.replace(/\/+$/, ""), audience };
}

interface KeySet {
  keys: Map<string, CryptoKey>;
  fetchedAt: number;
  /** The refresh under way, shared by every request that needs it. */
  pending: Promise<void> | null;
}

const keySets = new Map<string, KeySet>();

interface Jwk {
  kid?: unknown;
  kty?: unknown;
  n?: unknown;
  e?: unknown;
  alg?: unknown;
}

async function fetchKeys(teamDomain: string, set: KeySet): Promise<void> {
  const url = `${teamDomain}/cdn-cgi/access/certs`;
  let body: { keys?: Jwk[] };
  try {
    const response = await fetch(url, { headers: { accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = (await response.json()) as { keys?: Jwk[] };
  } catch (error) {
    // A failed fetch counts against the interval too: a down certs endpoint is not hammered.
    set.fetchedAt = Date.now();
    throw new AccessError(`the Access signing keys could not be fetched from ${url} (${(error as Error).message}); check YM_ACCESS_TEAM_DOMAIN`);
  }
  const keys = new Map<string, CryptoKey>();
  for (const jwk of Array.isArray(body.keys) ? body.keys : []) {
    if (typeof jwk.kid !== "string" || jwk.kty !== "RSA" || typeof jwk.n !== "string" || typeof jwk.e !== "string") continue;
    try {
      const key = await crypto.subtle.importKey("jwk", { kty: "RSA", n: jwk.n, e: jwk.e, alg: "RS256", ext: true }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);
      keys.set(jwk.kid, key);
    } catch {
      // A key this worker cannot use is skipped, not fatal: the others may still verify.
    }
  }
  set.keys = keys;
  set.fetchedAt = Date.now();
}

/** The key named `kid`, refetching the JWKS when it is unknown (rate-limited). */
async function keyFor(teamDomain: string, kid: string): Promise<CryptoKey> {
  let set = keySets.get(teamDomain);
  if (!set) {
    set = { keys: new Map(), fetchedAt: Number.NEGATIVE_INFINITY, pending: null };
    keySets.set(teamDomain, set);
  }
  const known = set.keys.get(kid);
  if (known) return known;
  if (!set.pending && Date.now() - set.fetchedAt >= REFRESH_MIN_INTERVAL_MS) {
    const current = set;
    current.pending = fetchKeys(teamDomain, current).finally(() => {
      current.pending = null;
    });
  }
  if (set.pending) await set.pending;
  const key = set.keys.get(kid);
  if (!key) throw new AccessError(`the assertion is signed with an unknown key '${kid}' (not in the team's JWKS)`);
  return key;
}

const decoder = new TextDecoder();

function decodeJson(part: string, what: string): Record<string, unknown> {
  const bytes = fromBase64url(part);
  if (!bytes) throw new AccessError(`the assertion is malformed: its ${what} is not base64url`);
  try {
    const value: unknown = JSON.parse(decoder.decode(bytes));
    if (value && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new AccessError(`the assertion is malformed: its ${what} is not a JSON object`);
}

export interface AccessIdentity {
  email: string;
}

/** Verifies an Access assertion; throws AccessError saying what is wrong with it. */
export async function verifyAccessAssertion(config: AccessConfig, assertion: string, now = Date.now()): Promise<AccessIdentity> {
  const parts = assertion.split(".");
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) throw new AccessError("the assertion is malformed: a JWT has three dot-separated parts");
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJson(headerPart, "header");
  if (header.alg !== "RS256") throw new AccessError(`the assertion's algorithm must be RS256, not ${JSON.stringify(header.alg)}`);
  if (typeof header.kid !== "string" || header.kid.length === 0) throw new AccessError("the assertion's header names no key (`kid`)");
  const payload = decodeJson(payloadPart, "payload");
  const signature = fromBase64url(signaturePart);
  if (!signature) throw new AccessError("the assertion is malformed: its signature is not base64url");

  const key = await keyFor(config.teamDomain, header.kid);
  const signed = new TextEncoder().encode(`${headerPart}.${payloadPart}`);
  if (!(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, signature, signed))) {
    throw new AccessError("the assertion's signature does not match the team's key: it is forged or altered");
  }
  if (payload.iss !== config.teamDomain) throw new AccessError(`the assertion was issued by ${JSON.stringify(payload.iss)}, not ${config.teamDomain}`);
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (!audiences.includes(config.audience)) throw new AccessError("the assertion is for another application (its `aud` is not YM_ACCESS_AUD)");
  const seconds = now / 1000;
  if (typeof payload.exp !== "number") throw new AccessError("the assertion has no expiry (`exp`)");
  if (payload.exp + CLOCK_SKEW_SECONDS <= seconds) throw new AccessError("the assertion has expired: sign in through Access again");
  if (typeof payload.nbf === "number" && payload.nbf - CLOCK_SKEW_SECONDS > seconds) throw new AccessError("the assertion is not valid yet (`nbf` is in the future)");
  if (typeof payload.email !== "string" || !payload.email.includes("@")) {
    throw new AccessError("the assertion names no person (`email`): service tokens are not people here, use an API token");
  }
  return { email: payload.email.toLowerCase() };
}
