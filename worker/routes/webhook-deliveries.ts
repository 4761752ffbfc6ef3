/** The record of a project's webhook deliveries, refused ones included (docs/triggers.md). */
import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../auth/principal.ts";
import { findProject } from "../services/projects.ts";
import { deliveryView, listDeliveries } from "../services/webhook-deliveries.ts";
import { errors, ID, json, router, security, SLUG } from "./common.ts";

const STATUSES = ["accepted", "started", "ignored", "failed", "rejected", "duplicate"] as const;

export const DeliveryView = z
  .object({
    id: z.string(),
    source: z.enum(["github", "generic"]),
    deliveryId: z.string().nullable().describe("as sent: X-GitHub-Delivery or X-Yardmaster-Delivery"),
    event: z.string().nullable(),
    action: z.string().nullable(),
    branch: z.string().nullable(),
    commit: z.string().nullable(),
    status: z
      .enum(STATUSES)
      .describe(
        "started: runs started; ignored: nothing to start (ping, tag push, no matching pipeline…); failed: authentic but unusable, or every run refused; rejected: bad or missing signature; duplicate: a delivery id seen before; accepted: runs being started",
      ),
    reason: z.string().nullable(),
    runs: z.array(
      z.object({
        pipeline: z.string(),
        runId: z.string(),
        number: z.number().int().nullable(),
        error: z.object({ code: z.string(), message: z.string() }).nullable(),
      }),
    ),
    receivedAt: z.string(),
    completedAt: z.string().nullable(),
  })
  .meta({ id: "WebhookDelivery" });

export const webhookDeliveryRoutes = router();

webhookDeliveryRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/projects/{project}/webhook-deliveries",
    operationId: "listWebhookDeliveries",
    summary: "List a project's webhook deliveries, newest first",
    security,
    request: {
      params: z.object({ project: SLUG }),
      query: z.object({
        status: z.enum(STATUSES).optional(),
        limit: z.coerce.number().int().min(1).max(100).default(20),
        cursor: ID.optional().describe("the `cursor` of the previous page"),
      }),
    },
    responses: { 200: json(z.object({ items: z.array(DeliveryView), cursor: z.string().nullable() }), "A page of deliveries."), ...errors },
  }),
  async (c) => {
    const { project: slug } = c.req.valid("param");
    requireScope(c.var.principal, "read", slug);
    const project = await findProject(c.env, slug);
    const page = await listDeliveries(c.env, project.id, c.req.valid("query"));
    return c.json({ items: page.items.map(deliveryView), cursor: page.cursor }, 200);
  },
);
