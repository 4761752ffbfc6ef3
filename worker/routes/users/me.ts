/** GET /api/v1/me: who the caller is — a person and their roles, or which token — and what they may do where. */
import { createRoute } from "@hono/zod-openapi";
import { SessionView } from "../../../domain/views.ts";
import { errors, json, router, security } from "../common.ts";
import { sessionView } from "../session.ts";

export const meRoute = router();

meRoute.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/me",
    operationId: "getMe",
    summary: "Who am I: the signed-in person's email and roles, or the calling token",
    security,
    responses: { 200: json(SessionView, "The caller."), ...errors },
  }),
  (c) => {
    c.header("cache-control", "no-store");
    return c.json(sessionView(c.var.principal), 200);
  },
);
