/** DELETE /api/v1/runs/:run and DELETE /api/v1/artifacts/:artifact (issue 18; docs/architecture.md "Retention and deletion"). */
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { canSeeProject, requireScope } from "../auth/principal.ts";
import { artifacts, runs } from "../../platform/db/schema.ts";
import { ApiError } from "../http/errors.ts";
import { deleteArtifact, deleteRun } from "../services/run-removal.ts";
import { errors, ID, json, router, security } from "./common.ts";

export const removalRoutes = router();

removalRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/api/v1/runs/{run}",
    operationId: "deleteRun",
    summary: "Delete an ended run: its rows, logs, artifacts (R2 included), lineage rows and its object's storage",
    description: "Admin only. Refused with 409 `run_active` while the run is active: cancel it first.",
    security,
    request: { params: z.object({ run: ID }) },
    responses: { 200: json(z.object({ deleted: z.string(), objects: z.number().int() }), "Deleted."), ...errors },
  }),
  async (c) => {
    const runId = c.req.valid("param").run;
    const row = (await drizzle(c.env.DB).select({ project: runs.project }).from(runs).where(eq(runs.id, runId)).limit(1))[0];
    if (!row || !canSeeProject(c.var.principal, row.project)) throw new ApiError(404, "run_not_found", `no run ${runId}`);
    requireScope(c.var.principal, "admin", row.project);
    const { objects } = await deleteRun(c.env, runId);
    return c.json({ deleted: runId, objects }, 200);
  },
);

removalRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/api/v1/artifacts/{artifact}",
    operationId: "deleteArtifact",
    summary: "Delete an artifact: its bytes in R2 and its row",
    description: "Admin only.",
    security,
    request: { params: z.object({ artifact: ID }) },
    responses: { 200: json(z.object({ deleted: z.string() }), "Deleted."), ...errors },
  }),
  async (c) => {
    const id = c.req.valid("param").artifact;
    const row = (await drizzle(c.env.DB).select().from(artifacts).where(eq(artifacts.id, id)).limit(1))[0];
    if (!row || !canSeeProject(c.var.principal, row.project)) throw new ApiError(404, "artifact_not_found", `no artifact ${id}`);
    requireScope(c.var.principal, "admin", row.project);
    await deleteArtifact(c.env, row);
    return c.json({ deleted: id }, 200);
  },
);
