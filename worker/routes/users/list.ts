/** GET /api/v1/users: the people who signed in (or were granted a role), with their roles. */
import { createRoute, z } from "@hono/zod-openapi";
import { asc } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { userRoles, users } from "../../../platform/db/schema.ts";
import { requireGlobalScope } from "../../auth/principal.ts";
import { type Role, roleOf } from "../../services/people.ts";
import { errors, json, router, security } from "../common.ts";
import { UserView } from "./shared.ts";

export const listUsersRoute = router();

listUsersRoute.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/users",
    operationId: "listUsers",
    summary: "List people and their roles",
    description: "Admin on every project. People appear on their first sign-in through Cloudflare Access, with no roles.",
    security,
    responses: { 200: json(z.object({ items: z.array(UserView), cursor: z.null() }), "Everyone, by email."), ...errors },
  }),
  async (c) => {
    requireGlobalScope(c.var.principal, "admin");
    const db = drizzle(c.env.DB);
    const [people, roles] = await db.batch([db.select().from(users).orderBy(asc(users.email)), db.select().from(userRoles)]);
    const byEmail = new Map<string, Role[]>();
    for (const r of roles) byEmail.set(r.email, [...(byEmail.get(r.email) ?? []), roleOf(r)]);
    const items = people.map((u) => ({ email: u.email, createdAt: new Date(u.createdAt).toISOString(), roles: byEmail.get(u.email) ?? [] }));
    return c.json({ items, cursor: null }, 200);
  },
);
