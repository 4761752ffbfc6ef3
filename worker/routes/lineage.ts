/** A run's OpenLineage events as they were sent, with their delivery state (docs/lineage.md). */
import { createRoute, z } from "@hono/zod-openapi";
import { LineageListView } from "../../domain/lineage/index.ts";
import { canSeeProject, requireScope } from "../auth/principal.ts";
import { ApiError, unwrap } from "../http/errors.ts";
import { runStub } from "../../platform/stubs.ts";
import { errors, ID, json, router, security } from "./common.ts";

export const lineageRoutes = router();

lineageRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/runs/{run}/lineage",
    operationId: "listRunLineageEvents",
    summary: "The run's OpenLineage events, in the order they were emitted, with their delivery state",
    description:
      "Every run attempt and job attempt is an OpenLineage run (its runId is the attempt's id). Events are listed " +
      "whether or not a lineage backend is configured; `delivery` says how sending stands.",
    security,
    request: {
      params: z.object({ run: ID }),
      query: z.object({
        limit: z.coerce.number().int().min(1).max(500).default(100),
        cursor: z
          .string()
          .regex(/^\d{1,15}$/, "cursor is the `cursor` of the previous page")
          .optional()
          .describe("the `cursor` of the previous page"),
      }),
    },
    responses: { 200: json(LineageListView, "A page of the run's events."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    const { run } = c.req.valid("param");
    const { limit, cursor } = c.req.valid("query");
    // One call: the object answers the run's project with the page, checked before anything is shown.
    const { project, listing } = unwrap(await runStub(c.env, run).lineageEvents(cursor ? Number(cursor) : 0, limit));
    if (!canSeeProject(c.var.principal, project)) throw new ApiError(404, "run_not_found", "no such run");
    const items = listing.items.map(({ body, ...item }) => ({ ...item, event: JSON.parse(body) as Record<string, unknown> }));
    return c.json({ ...listing, items }, 200);
  },
);
