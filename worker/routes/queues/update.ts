/**
 * PATCH /api/v1/queues/:name: change who may use a queue, or its description. Pipelines already
 * stored that name it are checked again at their next trigger (403 when no longer allowed).
 */
import { auditContext, auditRow } from "../../services/audit.ts";
import { createRoute } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { QueueView } from "../../../domain/views.ts";
import { DEFAULT_QUEUE } from "../../../domain/queues.ts";
import { queues } from "../../../platform/db/schema.ts";
import { requireGlobalScope } from "../../auth/principal.ts";
import { ApiError } from "../../http/errors.ts";
import { findQueue } from "../../services/queues.ts";
import { errors, json, router, security } from "../common.ts";
import { QueueParam, queueView, UpdateQueue } from "./shared.ts";

export const updateQueueRoute = router();

updateQueueRoute.openapi(
  createRoute({
    method: "patch",
    path: "/api/v1/queues/{name}",
    operationId: "updateQueue",
    summary: "Change a queue's projects or description",
    description: "Admin (every project). `default` always allows every project: its list cannot be narrowed.",
    security,
    request: { params: QueueParam, body: { required: true, content: { "application/json": { schema: UpdateQueue } } } },
    responses: { 200: json(QueueView, "The queue as changed."), ...errors },
  }),
  async (c) => {
    requireGlobalScope(c.var.principal, "admin");
    const { name } = c.req.valid("param");
    const body = c.req.valid("json");
    const current = await findQueue(c.env, name);
    if (name === DEFAULT_QUEUE && body.projects !== undefined && body.projects !== null) {
      throw new ApiError(400, "default_queue_is_open", "queue 'default' always allows every project; create another queue to restrict");
    }
    const changes = {
      ...(body.projects !== undefined && { projects: body.projects }),
      ...(body.description !== undefined && { description: body.description }),
      updatedAt: Date.now(),
    };
    const db = drizzle(c.env.DB);
    await db.batch([db.update(queues).set(changes).where(eq(queues.name, name)), auditRow(c.env, auditContext(c), { action: "queue.update", target: name }, changes.updatedAt)]);
    return c.json(queueView({ ...current, ...changes }), 200);
  },
);
