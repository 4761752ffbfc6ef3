/** GET /api/v1/queues/:name/metrics: what an autoscaler polls, from the queue's dispatcher alone (no D1). */
import { createRoute } from "@hono/zod-openapi";
import { QueueMetrics } from "../../../domain/views.ts";
import { dispatcherStub } from "../../../platform/stubs.ts";
import { requireScope } from "../../auth/principal.ts";
import { errors, json, router, security } from "../common.ts";
import { QueueParam } from "./shared.ts";

export const queueMetricsRoute = router();

queueMetricsRoute.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/queues/{name}/metrics",
    operationId: "getQueueMetrics",
    summary: "A queue's load: waiting and running jobs, idle and busy agents, the oldest wait",
    description: "Answered by the queue's dispatcher without a database read, so it can be polled often. A queue never used answers zeros.",
    security,
    request: { params: QueueParam },
    responses: { 200: json(QueueMetrics, "The queue's load now."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    return c.json(await dispatcherStub(c.env, c.req.valid("param").name).metrics(), 200);
  },
);
