/**
 * The dashboard's sign-in (docs/dashboard.md). `POST /api/v1/session {token}` checks the token
 * exactly as the API's door does (`principalFor`) and answers with the `ym_session` cookie —
 * HttpOnly (no script can read it), SameSite=Strict (no other site's page sends it), Secure on
 * https, Path=/ — carrying that token, which `authenticate` then accepts on every call. The
 * token never appears in a URL and the page never stores it. `GET` says who is signed in —
 * also a person behind Cloudflare Access, from the assertion alone, with no token asked —
 * `DELETE` signs out.
 *
 * These routes are mounted before the user API's door (app.ts): signing in cannot require
 * being signed in. They check their own caller instead.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { SessionView } from "../../domain/views.ts";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { ACCESS_HEADER } from "../auth/access.ts";
import { type AppEnv, principalFor, resolvePrincipal, SESSION_COOKIE } from "../auth/authenticate.ts";
import { type Principal, projectFilter, SCOPES } from "../auth/principal.ts";
import { ApiError } from "../http/errors.ts";
import { errors, json, router } from "./common.ts";

export const sessionRoutes = router();

/** How long a browser keeps the cookie; each request still checks the token (revoked, expired). */
export const SESSION_MAX_AGE_SECONDS = 30 * 24 * 3600;

/** Who the caller is and what they may do where (also GET /api/v1/me). */
export function sessionView(p: Principal): SessionView {
  if (p.kind === "admin") return { kind: "admin", name: "admin", email: null, scopes: ["admin"], projects: null, roles: [{ project: null, role: "admin" }], token: null };
  const roles = p.grants.map((g) => ({ project: g.project, role: g.scope }));
  const scopes = SCOPES.filter((s) => p.grants.some((g) => g.scope === s));
  if (p.kind === "user") return { kind: "user", name: p.email, email: p.email, scopes, projects: projectFilter(p), roles, token: null };
  return { kind: "token", name: p.name, email: null, scopes: p.scopes, projects: projectFilter(p), roles, token: { id: p.tokenId, name: p.name, owner: p.owner } };
}

/** The cookie's attributes: it is cleared with the same ones it was set with, or the browser keeps it. */
const cookieAttributes = (c: Context<AppEnv>) =>
  ({ httpOnly: true, sameSite: "Strict", secure: new URL(c.req.url).protocol === "https:", path: "/" }) as const;

/** Who is signed in, never cached: the answer changes with the cookie, not the URL. */
function signedIn(c: Context<AppEnv>, principal: Principal) {
  c.header("cache-control", "no-store");
  return c.json(sessionView(principal), 200);
}

function waitUntilOf(c: Context<AppEnv>): ((p: Promise<unknown>) => void) | undefined {
  try {
    const ctx = c.executionCtx;
    return (p) => ctx.waitUntil(p);
  } catch {
    return undefined; // no execution context (app.request in a test)
  }
}

/**
 * A sign-in may only come from this site's own pages (no login CSRF from elsewhere). An Origin
 * that is `null` (a sandboxed frame, a file) or not a URL at all is foreign, not a crash.
 */
function requireSameOrigin(c: Context<AppEnv>): void {
  const origin = c.req.header("origin");
  if (origin !== undefined && URL.parse(origin)?.host !== new URL(c.req.url).host) {
    throw new ApiError(403, "cross_origin", `sign in from ${new URL(c.req.url).origin} itself`);
  }
  if (c.req.header("sec-fetch-site") === "cross-site") throw new ApiError(403, "cross_origin", "sign in from this site's own pages");
}

sessionRoutes.use(
  "/api/v1/session",
  bodyLimit({
    maxSize: 4096,
    onError: () => {
      throw new ApiError(413, "body_too_large", "a sign-in body may be at most 4096 bytes");
    },
  }),
);

sessionRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/session",
    operationId: "createSession",
    summary: "Sign in (dashboard): exchange a token for an HttpOnly session cookie",
    // The token travels in the body, not in a header.
    security: [],
    description:
      "Checks the token like `Authorization: Bearer` would, then sets the `ym_session` cookie (HttpOnly, SameSite=Strict, Secure on https, Path=/, 30 days) that authenticates the dashboard's calls. Only JSON bodies from this site's own pages are accepted.",
    request: {
      body: {
        required: true,
        content: { "application/json": { schema: z.object({ token: z.string().min(1).max(512).describe("an API token or the admin token") }) } },
      },
    },
    responses: { 200: json(SessionView, "Signed in; the cookie is set."), ...errors },
  }),
  async (c) => {
    requireSameOrigin(c);
    const { token } = c.req.valid("json");
    const principal = await principalFor(c.env, token, "session", waitUntilOf(c));
    if (!principal) throw new ApiError(401, "invalid_token", "the token is unknown, revoked or expired");
    setCookie(c, SESSION_COOKIE, token, { ...cookieAttributes(c), maxAge: SESSION_MAX_AGE_SECONDS });
    return signedIn(c, principal);
  },
);

sessionRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/session",
    operationId: "getSession",
    summary: "Who is signed in (a bearer token, the session cookie, or a Cloudflare Access assertion)",
    security: [{ bearerAuth: [] }],
    responses: { 200: json(SessionView, "The signed-in token."), ...errors },
  }),
  async (c) => {
    const { principal } = await resolvePrincipal(
      c.env,
      { authorization: c.req.header("authorization"), cookie: getCookie(c, SESSION_COOKIE) ?? null, assertion: c.req.header(ACCESS_HEADER) },
      waitUntilOf(c),
    );
    if (!principal) throw new ApiError(401, "unauthorized", "not signed in");
    return signedIn(c, principal);
  },
);

sessionRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/api/v1/session",
    operationId: "deleteSession",
    summary: "Sign out: clear the session cookie",
    // Signing out needs nothing: it only clears the cookie.
    security: [],
    responses: { 200: json(z.object({ ok: z.literal(true) }), "Signed out."), ...errors },
  }),
  async (c) => {
    deleteCookie(c, SESSION_COOKIE, cookieAttributes(c));
    return c.json({ ok: true as const }, 200);
  },
);
