/** DELETE /api/v1/queues/:name: refused for `default`, and while the queue's dispatcher holds jobs. */
import { auditContext, auditRowIfChanged, d1Statement } from "../../services/audit.ts";
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { DEFAULT_QUEUE } from "../../../domain/queues.ts";
import { queues } from "../../../platform/db/schema.ts";
import { dispatcherStub } from "../../../platform/stubs.ts";
import { requireGlobalScope } from "../../auth/principal.ts";
import { ApiError } from "../../http/errors.ts";
import { findQueue } from "../../services/queues.ts";
import { errors, json, router, security } from "../common.ts";
import { QueueParam } from "./shared.ts";

export const deleteQueueRoute = router();

deleteQueueRoute.openapi(
  createRoute({
    method: "delete",
    path: "/api/v1/queues/{name}",
    operationId: "deleteQueue",
    summary: "Delete a queue",
    description:
      "Admin (every project). 409 for `default` and while jobs are queued or running in it. Its agents stay registered but get no work; " +
      "pipelines that name it are refused at their next trigger (403) and upload (400).",
    security,
    request: { params: QueueParam },
    responses: { 200: json(z.object({ ok: z.literal(true) }), "Deleted."), ...errors },
  }),
  async (c) => {
    requireGlobalScope(c.var.principal, "admin");
    const { name } = c.req.valid("param");
    if (name === DEFAULT_QUEUE) throw new ApiError(409, "default_queue", "queue 'default' always exists; it cannot be deleted");
    await findQueue(c.env, name);
    if (await dispatcherStub(c.env, name).holdsJobs()) {
      throw new ApiError(409, "queue_not_empty", `queue '${name}' holds queued or running jobs; cancel them or let them finish first`);
    }
    await c.env.DB.batch([
      d1Statement(c.env, drizzle(c.env.DB).delete(queues).where(eq(queues.name, name))),
      auditRowIfChanged(c.env, auditContext(c), { action: "queue.delete", target: name }),
    ]);
    return c.json({ ok: true as const }, 200);
  },
);
