/** GET /api/v1/queues and GET /api/v1/queues/:name: the registry (scope read). */
import { createRoute, z } from "@hono/zod-openapi";
import { asc } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { QueueView } from "../../../domain/views.ts";
import { queues } from "../../../platform/db/schema.ts";
import { requireScope } from "../../auth/principal.ts";
import { findQueue } from "../../services/queues.ts";
import { errors, json, router, security } from "../common.ts";
import { QueueParam, queueView } from "./shared.ts";

export const readQueueRoutes = router();

readQueueRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/queues",
    operationId: "listQueues",
    summary: "List queues, by name",
    security,
    responses: { 200: json(z.object({ items: z.array(QueueView), cursor: z.null() }), "Every queue."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    const rows = await drizzle(c.env.DB).select().from(queues).orderBy(asc(queues.name));
    return c.json({ items: rows.map(queueView), cursor: null }, 200);
  },
);

readQueueRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/queues/{name}",
    operationId: "getQueueByName",
    summary: "A queue",
    security,
    request: { params: QueueParam },
    responses: { 200: json(QueueView, "The queue."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    return c.json(queueView(await findQueue(c.env, c.req.valid("param").name)), 200);
  },
);
