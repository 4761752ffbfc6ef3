/**
 * The user API's door: `Authorization: Bearer <token>` (or the dashboard's session cookie,
 * which carries the same token), else a Cloudflare Access assertion when the deployment uses
 * Access (auth/access.ts). The admin token is compared in constant time; API tokens are
 * looked up by their SHA-256 in D1, and must be neither revoked nor expired; a person's token is
 * cut down to the person's current roles at every use.
 */
import { and, eq, isNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { constantTimeEqual, sha256Hex } from "../../domain/tokens.ts";
import { tokens } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError } from "../http/errors.ts";
import { grantOf, rolesOf, signedInPerson } from "../services/people.ts";
import { ACCESS_HEADER, AccessError, accessConfig, verifyAccessAssertion } from "./access.ts";
import { intersectGrants, type Principal, type Scope, tokenGrants } from "./principal.ts";

export const SESSION_COOKIE = "ym_session";

export type AppEnv = { Bindings: Env; Variables: { principal: Principal } };

/** A token's `last_used_at` is written at most this often, to keep D1 writes off every request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export function bearerToken(header: string | undefined): string | null {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1] ?? null;
}

export async function principalFor(
  env: Env,
  token: string,
  via: "bearer" | "session",
  waitUntil?: (promise: Promise<unknown>) => void,
): Promise<Principal | null> {
  if (env.YM_ADMIN_TOKEN && constantTimeEqual(token, env.YM_ADMIN_TOKEN)) return { kind: "admin", via };
  if (!token.startsWith("ymt_")) return null;
  const db = drizzle(env.DB);
  const hash = await sha256Hex(token);
  const row = (
    await db
      .select()
      .from(tokens)
      .where(and(eq(tokens.tokenHash, hash), eq(tokens.kind, "api"), isNull(tokens.revokedAt)))
      .limit(1)
  )[0];
  const now = Date.now();
  if (!row || (row.expiresAt !== null && row.expiresAt <= now)) return null;
  if (row.lastUsedAt === null || now - row.lastUsedAt > LAST_USED_RESOLUTION_MS) {
    const write = db.update(tokens).set({ lastUsedAt: now }).where(eq(tokens.id, row.id)).run();
    if (waitUntil) waitUntil(write.catch(() => undefined));
    else await write.catch(() => undefined);
  }
  return tokenPrincipal(env, via, row);
}

/** A token's principal: its scopes over its projects, within its owner's roles when it has one. */
export async function tokenPrincipal(
  env: Env,
  via: "bearer" | "session",
  row: { id: string; name: string; scopes: string[]; projects: string[] | null; owner: string | null },
): Promise<Principal> {
  const scopes = row.scopes as Scope[];
  let grants = tokenGrants(scopes, row.projects);
  if (row.owner !== null) grants = intersectGrants(grants, (await rolesOf(env, row.owner)).map(grantOf));
  return { kind: "token", via, tokenId: row.id, name: row.name, scopes, projects: row.projects, owner: row.owner, grants };
}

/**
 * The person an Access assertion names, or null when there is none or the deployment does not
 * use Access. A bad assertion is a 401 saying why (never a 500).
 */
export async function accessPrincipal(env: Env, assertion: string | undefined): Promise<Principal | null> {
  const config = accessConfig(env);
  if (!config || !assertion) return null;
  let email: string;
  try {
    ({ email } = await verifyAccessAssertion(config, assertion));
  } catch (error) {
    if (error instanceof AccessError) throw new ApiError(401, "invalid_access_assertion", error.message);
    throw error;
  }
  const roles = await signedInPerson(env, email);
  return { kind: "user", via: "access", email, grants: roles.map(grantOf) };
}

/** The caller of a request: a bearer token, else the session cookie, else an Access assertion. */
export async function resolvePrincipal(
  env: Env,
  headers: { authorization?: string; cookie: string | null; assertion?: string },
  waitUntil?: (promise: Promise<unknown>) => void,
): Promise<{ principal: Principal | null; presented: boolean }> {
  const bearer = bearerToken(headers.authorization);
  const token = bearer ?? headers.cookie;
  if (token) return { principal: await principalFor(env, token, bearer ? "bearer" : "session", waitUntil), presented: true };
  const person = await accessPrincipal(env, headers.assertion);
  return { principal: person, presented: person !== null };
}

export const authenticate = createMiddleware<AppEnv>(async (c, next) => {
  let waitUntil: ((p: Promise<unknown>) => void) | undefined;
  try {
    const executionCtx = c.executionCtx;
    waitUntil = (p) => executionCtx.waitUntil(p);
  } catch {
    waitUntil = undefined; // no execution context (e.g. app.request in a test): write inline
  }
  const { principal, presented } = await resolvePrincipal(
    c.env,
    { authorization: c.req.header("authorization"), cookie: getCookie(c, SESSION_COOKIE) ?? null, assertion: c.req.header(ACCESS_HEADER) },
    waitUntil,
  );
  if (!presented) {
    throw new ApiError(401, "unauthorized", "send `Authorization: Bearer <token>` (an API token or the admin token)");
  }
  if (!principal) throw new ApiError(401, "unauthorized", "the token is unknown, revoked or expired");
  // A person's assertion comes from Access's cookie, which another site's page may make the
  // browser send (its SameSite is Access's setting, not ours): changes only from this site.
  if (principal.kind === "user" && !["GET", "HEAD", "OPTIONS"].includes(c.req.method)) {
    const origin = c.req.header("origin");
    const foreign = origin !== undefined && URL.parse(origin)?.host !== new URL(c.req.url).host;
    if (foreign || c.req.header("sec-fetch-site") === "cross-site") {
      throw new ApiError(403, "cross_origin", `a change by a person signed in through Access must come from ${new URL(c.req.url).origin} itself`);
    }
  }
  c.set("principal", principal);
  await next();
});
