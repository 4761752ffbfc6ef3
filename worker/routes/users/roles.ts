/**
 * PUT / DELETE /api/v1/users/:email/roles {project, role}: grant or remove a person's role.
 * The same rules as everything else: a role on a project needs 'admin' on that project, a role
 * on every project needs 'admin' on every project. The role and its audit row are one batch.
 * Removing a role also takes it from the person's tokens at once (they are checked against the
 * owner's roles at every use: worker/auth/authenticate.ts).
 */
import { createRoute } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { userRoles, users } from "../../../platform/db/schema.ts";
import { requireGlobalScope, requireScope } from "../../auth/principal.ts";
import type { AppEnv } from "../../auth/authenticate.ts";
import { ApiError } from "../../http/errors.ts";
import { auditContext, auditRow, auditRowIfChanged, d1Statement } from "../../services/audit.ts";
import { rolesOf, storedProject } from "../../services/people.ts";
import { findProject } from "../../services/projects.ts";
import { errors, json, router, security } from "../common.ts";
import type { Context } from "hono";
import { EmailParam, RoleBody, UserView } from "./shared.ts";

export const roleRoutes = router();

async function authorize(c: Context<AppEnv>, project: string | null) {
  if (project === null) requireGlobalScope(c.var.principal, "admin");
  else {
    requireScope(c.var.principal, "admin", project);
    await findProject(c.env, project);
  }
}

async function userView(c: Context<AppEnv>, email: string) {
  const row = (await drizzle(c.env.DB).select().from(users).where(eq(users.email, email)).limit(1))[0];
  if (!row) throw new ApiError(404, "user_not_found", `no person ${email}`);
  return { email, createdAt: new Date(row.createdAt).toISOString(), roles: await rolesOf(c.env, email) };
}

const describeRole = (role: string, project: string | null) => `${role} on ${project ?? "every project"}`;

roleRoutes.openapi(
  createRoute({
    method: "put",
    path: "/api/v1/users/{email}/roles",
    operationId: "grantUserRole",
    summary: "Grant a person a role on a project (or on every project)",
    description:
      "One role per person and project: this replaces the role they had there. The person need not have signed in yet. Needs 'admin' on that project (on every project for `project: null`).",
    security,
    request: { params: EmailParam, body: { required: true, content: { "application/json": { schema: RoleBody } } } },
    responses: { 200: json(UserView, "The person with their roles."), ...errors },
  }),
  async (c) => {
    const { email } = c.req.valid("param");
    const { project, role } = c.req.valid("json");
    await authorize(c, project);
    const db = drizzle(c.env.DB);
    const now = Date.now();
    await db.batch([
      db.insert(users).values({ email, createdAt: now }).onConflictDoNothing(),
      db
        .insert(userRoles)
        .values({ email, project: storedProject(project), role, createdAt: now })
        .onConflictDoUpdate({ target: [userRoles.email, userRoles.project], set: { role, createdAt: now } }),
      auditRow(c.env, auditContext(c), { action: "role.grant", project, target: `${email}: ${describeRole(role, project)}` }, now),
    ]);
    return c.json(await userView(c, email), 200);
  },
);

roleRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/api/v1/users/{email}/roles",
    operationId: "removeUserRole",
    summary: "Remove a person's role (the same body as the grant)",
    description: "404 when the person does not have that role there. Their tokens lose it at once.",
    security,
    request: { params: EmailParam, body: { required: true, content: { "application/json": { schema: RoleBody } } } },
    responses: { 200: json(UserView, "The person with their remaining roles."), ...errors },
  }),
  async (c) => {
    const { email } = c.req.valid("param");
    const { project, role } = c.req.valid("json");
    await authorize(c, project);
    const db = drizzle(c.env.DB);
    const [removed] = await c.env.DB.batch([
      d1Statement(c.env, db.delete(userRoles).where(and(eq(userRoles.email, email), eq(userRoles.project, storedProject(project)), eq(userRoles.role, role)))),
      auditRowIfChanged(c.env, auditContext(c), { action: "role.remove", project, target: `${email}: ${describeRole(role, project)}` }),
    ]);
    if ((removed?.meta.changes ?? 0) === 0) throw new ApiError(404, "role_not_found", `${email} does not have ${describeRole(role, project)}`);
    return c.json(await userView(c, email), 200);
  },
);

