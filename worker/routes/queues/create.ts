/** POST /api/v1/queues: a new queue (its DispatcherObject comes to life with its first agent or job). */
import { auditContext, auditRow } from "../../services/audit.ts";
import { createRoute } from "@hono/zod-openapi";
import { drizzle } from "drizzle-orm/d1";
import { QueueView } from "../../../domain/views.ts";
import { queues } from "../../../platform/db/schema.ts";
import { isUniqueViolation } from "../../../platform/db/unique.ts";
import { requireGlobalScope } from "../../auth/principal.ts";
import { ApiError } from "../../http/errors.ts";
import { errors, json, router, security } from "../common.ts";
import { CreateQueue, queueView } from "./shared.ts";

export const createQueueRoute = router();

createQueueRoute.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/queues",
    operationId: "createQueue",
    summary: "Create a queue",
    description: "Admin (every project). `projects` limits which projects' pipelines may send jobs to it; omitted or null = every project.",
    security,
    request: { body: { required: true, content: { "application/json": { schema: CreateQueue } } } },
    responses: { 201: json(QueueView, "The queue."), ...errors },
  }),
  async (c) => {
    requireGlobalScope(c.var.principal, "admin");
    const body = c.req.valid("json");
    const now = Date.now();
    const row = { name: body.name, projects: body.projects ?? null, description: body.description ?? "", createdAt: now, updatedAt: now };
    try {
      const db = drizzle(c.env.DB);
      await db.batch([db.insert(queues).values(row), auditRow(c.env, auditContext(c), { action: "queue.create", target: row.name }, now)]);
    } catch (error) {
      if (isUniqueViolation(error)) throw new ApiError(409, "queue_exists", `queue '${body.name}' exists already (PATCH it to change it)`);
      throw error;
    }
    return c.json(queueView(row), 201);
  },
);
