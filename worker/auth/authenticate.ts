/**
 * The user API's door: `Authorization: Bearer <token>` (or the dashboard's session cookie,
 * which carries the same token). The admin token is compared in constant time; API tokens are
 * looked up by their SHA-256 in D1, and must be neither revoked nor expired.
 */
import { and, eq, isNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { constantTimeEqual, sha256Hex } from "../../domain/tokens.ts";
import { tokens } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError } from "../http/errors.ts";
import type { Principal, Scope } from "./principal.ts";

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
  via: Principal["via"],
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
  return { kind: "token", via, tokenId: row.id, name: row.name, scopes: row.scopes as Scope[], projects: row.projects };
}

export const authenticate = createMiddleware<AppEnv>(async (c, next) => {
  const bearer = bearerToken(c.req.header("authorization"));
  const session = bearer ? null : (getCookie(c, SESSION_COOKIE) ?? null);
  const token = bearer ?? session;
  if (!token) {
    throw new ApiError(401, "unauthorized", "send `Authorization: Bearer <token>` (an API token or the admin token)");
  }
  let waitUntil: ((p: Promise<unknown>) => void) | undefined;
  try {
    const executionCtx = c.executionCtx;
    waitUntil = (p) => executionCtx.waitUntil(p);
  } catch {
    waitUntil = undefined; // no execution context (e.g. app.request in a test): write inline
  }
  const principal = await principalFor(c.env, token, bearer ? "bearer" : "session", waitUntil);
  if (!principal) throw new ApiError(401, "unauthorized", "the token is unknown, revoked or expired");
  c.set("principal", principal);
  await next();
});
