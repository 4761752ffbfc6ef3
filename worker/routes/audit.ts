/** GET /api/v1/audit: the audit log, newest first, filtered (docs/security.md "The audit log"). */
import { createRoute, z } from "@hono/zod-openapi";
import { AuditEventView } from "../../domain/views.ts";
import { requireGlobalScope } from "../auth/principal.ts";
import { listAudit } from "../services/audit.ts";
import { errors, ID, json, router, security, SLUG } from "./common.ts";

export const auditRoutes = router();

auditRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/audit",
    operationId: "listAuditEvents",
    summary: "Read the audit log: who changed what, triggered, cancelled or re-ran which run",
    description: "Admin on every project. Newest first; pass the answer's `cursor` for the next page.",
    security,
    request: {
      query: z.object({
        project: SLUG.optional(),
        actor: z.string().min(1).max(254).optional().describe("an actor's id: an email, a token id, …"),
        action: z.string().regex(/^[a-z-]+\.[a-z-]+$/, "an action is like run.trigger").optional(),
        cursor: ID.optional().describe("the `cursor` of the previous page"),
        limit: z.coerce.number().int().min(1).max(200).default(50),
      }),
    },
    responses: { 200: json(z.object({ items: z.array(AuditEventView), cursor: z.string().nullable() }), "A page of events."), ...errors },
  }),
  async (c) => {
    requireGlobalScope(c.var.principal, "admin");
    return c.json(await listAudit(c.env, c.req.valid("query")), 200);
  },
);
