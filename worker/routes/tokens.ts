/** API tokens (with scopes) and agent registration tokens: created, listed, revoked. */
import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, isNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { uuidv7 } from "uuidv7";
import { newApiToken, newRegistrationToken, sha256Hex } from "../../domain/tokens.ts";
import { grantsCover, type Principal, requireGlobalScope, SCOPES } from "../auth/principal.ts";
import { tokens } from "../../platform/db/schema.ts";
import type { Context } from "hono";
import type { AppEnv } from "../auth/authenticate.ts";
import { auditContext, auditRow, auditRowIfChanged, d1Statement } from "../services/audit.ts";
import { ApiError } from "../http/errors.ts";
import { DEFAULT_QUEUE } from "../../domain/queues.ts";
import { queueRules } from "../services/queues.ts";
import { errors, ID, json, QUEUE_NAME, router, security, SLUG } from "./common.ts";
import { isoTime } from "../../domain/time.ts";

export const tokenRoutes = router();

const TokenView = z
  .object({
    id: z.string(),
    kind: z.enum(["api", "agent_registration"]),
    name: z.string(),
    scopes: z.array(z.enum(SCOPES)),
    projects: z.array(z.string()).nullable(),
    queue: z.string().describe("the queue a registration token registers agents into (`default` for API tokens)"),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    owner: z.string().nullable().describe("the person who made it; its rights never exceed their current roles"),
  })
  .meta({ id: "Token" });

const view = (row: typeof tokens.$inferSelect) => ({
  id: row.id,
  kind: row.kind,
  name: row.name,
  scopes: row.scopes as (typeof SCOPES)[number][],
  projects: row.projects,
  queue: row.queue,
  createdAt: isoTime(row.createdAt)!,
  expiresAt: isoTime(row.expiresAt),
  lastUsedAt: isoTime(row.lastUsedAt),
  revokedAt: isoTime(row.revokedAt),
  owner: row.owner,
});

const CreateToken = z.object({
  name: z.string().min(1).max(100),
  scopes: z.array(z.enum(SCOPES)).min(1, "give at least one scope: read, run or admin"),
  projects: z.array(SLUG).min(1).optional().describe("limit the token to these projects"),
  expiresAt: z.iso
    .datetime({ offset: true })
    .optional()
    // A malformed time is the datetime check's to report; this one only says "in the past".
    .refine((t) => t === undefined || !(Date.parse(t) <= Date.now()), "expiresAt must be in the future"),
});

/** The token and its audit row, in one batch (never the token's value: its name and id). */
async function insertToken(c: Context<AppEnv>, row: typeof tokens.$inferInsert & { id: string }) {
  const db = drizzle(c.env.DB);
  const action = row.kind === "api" ? "token.create" : "agent-token.create";
  await db.batch([db.insert(tokens).values(row), auditRow(c.env, auditContext(c), { action, target: `${row.name} (${row.id})` }, row.createdAt)]);
}

tokenRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/tokens",
    operationId: "createApiToken",
    summary: "Create an API token",
    description:
      "The token is in this answer only; only its SHA-256 is stored. A person (Cloudflare Access) may make tokens within their roles; the token records them as its owner and is checked against their roles at every use.",
    security,
    request: { body: { required: true, content: { "application/json": { schema: CreateToken } } } },
    responses: { 201: json(TokenView.extend({ token: z.string() }), "The token (shown once)."), ...errors },
  }),
  async (c) => {
    const caller = c.var.principal;
    const body = c.req.valid("json");
    // A person may make tokens within their own roles; a token needs 'admin' on every project.
    if (caller.kind === "user") {
      for (const project of body.projects ?? [null]) {
        for (const scope of body.scopes) {
          if (!grantsCover(caller.grants, scope, project)) {
            throw new ApiError(403, "forbidden", `your roles do not give '${scope}' on ${project === null ? "every project" : `project '${project}'`}: a token cannot exceed its owner's roles`);
          }
        }
      }
    } else requireGlobalScope(caller, "admin");
    const token = newApiToken();
    const row = {
      id: uuidv7(),
      kind: "api" as const,
      name: body.name,
      tokenHash: await sha256Hex(token),
      scopes: body.scopes,
      projects: body.projects ?? null,
      queue: DEFAULT_QUEUE,
      createdAt: Date.now(),
      expiresAt: body.expiresAt ? Date.parse(body.expiresAt) : null,
      lastUsedAt: null,
      revokedAt: null,
      // The person behind it (also behind a token that makes a token): its rights stay within theirs.
      owner: caller.kind === "user" ? caller.email : caller.kind === "token" ? caller.owner : null,
    };
    await insertToken(c, row);
    return c.json({ ...view(row), token }, 201);
  },
);

tokenRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/agent-tokens",
    operationId: "createAgentToken",
    summary: "Create an agent registration token",
    description:
      "Agents register with it into its queue (default `default`); their agent tokens claim only from that queue. Revoking it stops new registrations (401 `registration_token_revoked`), not agents already registered.",
    security,
    request: {
      body: {
        required: false,
        content: { "application/json": { schema: z.object({ name: z.string().min(1).max(100).optional(), queue: QUEUE_NAME.optional() }) } },
      },
    },
    responses: { 201: json(TokenView.extend({ token: z.string() }), "The registration token (shown once)."), ...errors },
  }),
  async (c) => {
    requireGlobalScope(c.var.principal, "admin");
    const body = c.req.valid("json") ?? {};
    const queue = body.queue ?? DEFAULT_QUEUE;
    // An unknown queue is the request's fault (400), not a missing resource of the path.
    if (queue !== DEFAULT_QUEUE && !(await queueRules(c.env, [queue])).has(queue)) {
      throw new ApiError(400, "unknown_queue", `no queue '${queue}': create it first (POST /api/v1/queues)`);
    }
    const token = newRegistrationToken();
    const row = {
      id: uuidv7(),
      kind: "agent_registration" as const,
      name: body.name ?? "agents",
      tokenHash: await sha256Hex(token),
      scopes: [],
      projects: null,
      queue,
      createdAt: Date.now(),
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
      owner: null,
    };
    await insertToken(c, row);
    return c.json({ ...view(row), token }, 201);
  },
);

/**
 * Whose tokens the caller may list and revoke: everyone's (null) for an admin of every project;
 * a person's own API tokens for any other person; otherwise 403.
 */
function ownTokensOf(principal: Principal, kind: "api" | "agent_registration"): string | null {
  if (principal.kind === "user" && kind === "api" && !grantsCover(principal.grants, "admin", null)) return principal.email;
  requireGlobalScope(principal, "admin");
  return null;
}

for (const [path, kind] of [
  ["/api/v1/tokens", "api"],
  ["/api/v1/agent-tokens", "agent_registration"],
] as const) {
  tokenRoutes.openapi(
    createRoute({
      method: "get",
      path,
      operationId: kind === "api" ? "listApiTokens" : "listAgentTokens",
      summary: kind === "api" ? "List API tokens (a person who is not an admin of every project: their own)" : "List agent registration tokens",
      security,
      responses: { 200: json(z.object({ items: z.array(TokenView), cursor: z.null() }), "The tokens, newest first (never their values)."), ...errors },
    }),
    async (c) => {
      const owner = ownTokensOf(c.var.principal, kind);
      const mine = owner === null ? eq(tokens.kind, kind) : and(eq(tokens.kind, kind), eq(tokens.owner, owner));
      const rows = await drizzle(c.env.DB).select().from(tokens).where(mine).orderBy(desc(tokens.id));
      return c.json({ items: rows.map(view), cursor: null }, 200);
    },
  );

  tokenRoutes.openapi(
    createRoute({
      method: "delete",
      path: `${path}/{id}`,
      operationId: kind === "api" ? "revokeApiToken" : "revokeAgentToken",
      summary: kind === "api" ? "Revoke an API token (a person who is not an admin of every project: one of their own)" : "Revoke an agent registration token",
      security,
      request: { params: z.object({ id: ID }) },
      responses: { 200: json(TokenView, "The revoked token."), ...errors },
    }),
    async (c) => {
      const owner = ownTokensOf(c.var.principal, kind);
      const { id } = c.req.valid("param");
      const db = drizzle(c.env.DB);
      const which = owner === null ? and(eq(tokens.id, id), eq(tokens.kind, kind)) : and(eq(tokens.id, id), eq(tokens.kind, kind), eq(tokens.owner, owner));
      await c.env.DB.batch([
        d1Statement(c.env, db.update(tokens).set({ revokedAt: Date.now() }).where(and(which, isNull(tokens.revokedAt)))),
        auditRowIfChanged(c.env, auditContext(c), { action: kind === "api" ? "token.revoke" : "agent-token.revoke", target: id }),
      ]);
      const row = (await db.select().from(tokens).where(which).limit(1))[0];
      if (!row) throw new ApiError(404, "token_not_found", `no ${kind === "api" ? "API" : "registration"} token ${id}`);
      return c.json(view(row), 200);
    },
  );
}
