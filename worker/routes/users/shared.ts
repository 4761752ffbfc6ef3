/** Pieces the people routes share (docs/security.md "People"). */
import { z } from "@hono/zod-openapi";
import { RoleView, SCOPES } from "../../../domain/views.ts";
import { SLUG } from "../common.ts";

export const EMAIL = z
  .string()
  .min(3)
  .max(254)
  .regex(/^[^\s@/]+@[^\s@/]+$/, "an email is name@domain")
  .transform((e) => e.toLowerCase());

export const EmailParam = z.object({ email: EMAIL });

export const RoleBody = z.object({
  project: SLUG.nullable().describe("a project slug; null = every project"),
  role: z.enum(SCOPES),
});

export const UserView = z
  .object({ email: z.string(), createdAt: z.string(), roles: z.array(RoleView) })
  .meta({ id: "User" });
