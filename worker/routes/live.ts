/**
 * Live streams (docs/live.md): `GET /api/v1/runs/:run/live` and `GET /api/v1/queue/live` are
 * WebSockets served by the run's RunObject and the queue's DispatcherObject; this worker only
 * checks who asks and forwards the upgrade (`stub.fetch`). `POST /api/v1/live-tickets` gives a
 * browser a short-lived ticket to open them without its token in the URL.
 *
 * The stream routes authenticate themselves (bearer, session cookie, or `?ticket=`), so app.ts
 * keeps the user API's door (which knows no tickets) and every other middleware off them: a
 * 101's headers cannot be changed.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { LIVE_PROJECTS_HEADER } from "../../platform/live-http.ts";
import { ACCESS_HEADER } from "../auth/access.ts";
import { accessPrincipal, type AppEnv, bearerToken, principalFor, SESSION_COOKIE } from "../auth/authenticate.ts";
import { issueTicket, redeemTicket, TICKET_TTL_MS } from "../auth/live-ticket.ts";
import { type Principal, projectFilter, requireScope } from "../auth/principal.ts";
import { ApiError } from "../http/errors.ts";
import { dispatcherStub, runStub } from "../../platform/stubs.ts";
import { DEFAULT_QUEUE } from "../../domain/queues.ts";
import { queueRules } from "../services/queues.ts";
import { errors, ID, json, QUEUE_NAME, router, security } from "./common.ts";
import { isoTime } from "../../domain/time.ts";

/** For app.ts: the paths that skip the user API's door (see above). */
export const LIVE_STREAM_PATHS = ["/api/v1/runs/:run/live", "/api/v1/queue/live"];

export const liveStreamRoutes = router();
export const liveTicketRoutes = router();

const liveSecurity: Record<string, string[]>[] = [{ bearerAuth: [] }, { liveTicket: [] }];

/** Who opens the stream: `?ticket=`, else the bearer token, else the session cookie. */
async function livePrincipal(c: Context<AppEnv>, ticket: string | undefined): Promise<Principal> {
  if (ticket !== undefined) return redeemTicket(c.env, ticket);
  const bearer = bearerToken(c.req.header("authorization"));
  const session = bearer ? null : (getCookie(c, SESSION_COOKIE) ?? null);
  const token = bearer ?? session;
  if (!token) {
    // A person behind Cloudflare Access: the assertion comes from Access's cookie, which rides
    // along like ours, so the same same-origin rule holds.
    const person = await accessPrincipal(c.env, c.req.header(ACCESS_HEADER));
    if (person && !sameOrigin(c.req.header("origin"), c.req.url)) {
      throw new ApiError(403, "cross_origin", `a Cloudflare Access sign-in opens live streams only from ${new URL(c.req.url).origin}; use a ticket elsewhere`);
    }
    if (person) return person;
    throw new ApiError(401, "unauthorized", "send `Authorization: Bearer <token>`, the session cookie, or `?ticket=` from POST /api/v1/live-tickets");
  }
  // A cookie rides along on any site's WebSocket: only this site's pages may use it here.
  if (session && !sameOrigin(c.req.header("origin"), c.req.url)) {
    throw new ApiError(403, "cross_origin", `a session cookie opens live streams only from ${new URL(c.req.url).origin}; use a ticket elsewhere`);
  }
  let waitUntil: ((p: Promise<unknown>) => void) | undefined;
  try {
    const executionCtx = c.executionCtx;
    waitUntil = (p) => executionCtx.waitUntil(p);
  } catch {
    waitUntil = undefined;
  }
  const principal = await principalFor(c.env, token, bearer ? "bearer" : "session", waitUntil);
  if (!principal) throw new ApiError(401, "unauthorized", "the token is unknown, revoked or expired");
  return principal;
}

/** True when there is no Origin (not a browser) or it is this site; `null` or junk is foreign. */
function sameOrigin(origin: string | undefined, url: string): boolean {
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === new URL(url).host;
  } catch {
    return false;
  }
}

function requireUpgrade(c: Context<AppEnv>): void {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError(426 as never, "upgrade_required", "this is a WebSocket: connect with `Upgrade: websocket`");
  }
}

/** The upgrade as the object sees it: only the parameters it needs, no credentials. */
function forwarded(c: Context<AppEnv>, principal: Principal, params: Record<string, string | number | undefined>): Request {
  const url = new URL("https://live.internal/live");
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, String(value));
  const headers = new Headers(c.req.raw.headers);
  headers.delete("authorization");
  headers.delete("cookie");
  const projects = projectFilter(principal);
  headers.set(LIVE_PROJECTS_HEADER, projects === null ? "*" : JSON.stringify(projects));
  return new Request(url, { method: "GET", headers });
}

const upgradeResponses = {
  101: { description: "Switching Protocols: the stream (frames in docs/live.md)." },
  426: { description: "Not a WebSocket request.", content: errors[400].content },
  ...errors,
};

const TicketQuery = z.string().max(4096).optional().describe("a ticket from POST /api/v1/live-tickets, instead of a bearer token");
const SinceQuery = z.coerce
  .number()
  .int()
  .min(0)
  .optional()
  .describe("resume after this event: the `seq` of the last frame received (no snapshot then)");

liveStreamRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/runs/{run}/live",
    operationId: "streamRun",
    summary: "WebSocket: a run's snapshot, then every state transition and log chunk, in order",
    description:
      "First frame `snapshot` (the run as GET /api/v1/runs/{run} shows it, with its `seq`) or, with `since`, `resumed`; then `events` frames. " +
      "Acknowledge with `{\"type\":\"ack\",\"seq\":N}`. Log bytes are base64; with `protocol=2`, an `events` frame carrying log bytes is binary instead " +
      "(4-byte big-endian JSON length, the JSON with each log event's `length`, then the bytes raw; docs/live.md). Close 4008: too slow, 4000: reconnect with `since`.",
    security: liveSecurity,
    request: {
      params: z.object({ run: ID }),
      query: z.object({
        since: SinceQuery,
        job: z.string().min(1).max(100).optional().describe("only this job's transitions and logs (and the run's own transitions)"),
        protocol: z.enum(["1", "2"]).optional().describe("the wire protocol: 1 (default, log bytes base64 in JSON) or 2 (log bytes in binary frames)"),
        ticket: TicketQuery,
      }),
    },
    responses: upgradeResponses,
  }),
  async (c) => {
    const { run } = c.req.valid("param");
    const { since, job, protocol, ticket } = c.req.valid("query");
    const principal = await livePrincipal(c, ticket);
    requireScope(principal, "read");
    requireUpgrade(c);
    // The object's answer (a 101 with its WebSocket, or a JSON error) passes through untouched.
    return runStub(c.env, run).fetch(forwarded(c, principal, { since, job, protocol }));
  },
);

liveStreamRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/queue/live",
    operationId: "streamQueue",
    summary: "WebSocket: one queue's snapshot, then every enqueue, claim, requeue, reorder and removal",
    description:
      "First frame `snapshot` (`queue: {pending, running}`) or, with `since` still kept, `resumed`; then `events` frames (docs/live.md). " +
      "A `since` older than the kept events gets a fresh snapshot.",
    security: liveSecurity,
    request: {
      query: z.object({ since: SinceQuery, ticket: TicketQuery, queue: QUEUE_NAME.optional().describe("the queue to watch (default `default`)") }),
    },
    responses: upgradeResponses,
  }),
  async (c) => {
    const { since, ticket, queue = DEFAULT_QUEUE } = c.req.valid("query");
    const principal = await livePrincipal(c, ticket);
    requireScope(principal, "read");
    requireUpgrade(c);
    // A queue the registry does not know has no dispatcher worth creating.
    if (!(await queueRules(c.env, [queue])).has(queue)) throw new ApiError(404, "queue_not_found", `no queue '${queue}'`);
    const dispatcher = dispatcherStub(c.env, queue);
    return dispatcher.fetch(forwarded(c, principal, { since }));
  },
);

liveTicketRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/live-tickets",
    operationId: "createLiveTicket",
    summary: "A short-lived ticket to open live streams (`?ticket=`) without the token in the URL",
    description: `The ticket opens only live streams, with at most read access, as the caller; it expires after ${TICKET_TTL_MS / 1000} s and may be used several times until then.`,
    security,
    responses: { 201: json(z.object({ ticket: z.string(), expiresAt: z.string() }), "The ticket."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    const { ticket, expiresAt } = await issueTicket(c.env, c.var.principal);
    return c.json({ ticket, expiresAt: isoTime(expiresAt) }, 201);
  },
);
