/**
 * GET /api/v1/projects/:project/concurrency-groups: who holds each of the project's concurrency
 * groups and who waits for it (docs/state-machine.md, "Concurrency groups"; the queue page).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ConcurrencyGroupView } from "../../domain/concurrency-groups.ts";
import { concurrencyGroupsStub } from "../../platform/stubs.ts";
import { requireScope } from "../auth/principal.ts";
import { findProject } from "../services/projects.ts";
import { errors, json, router, security, SLUG } from "./common.ts";

export const concurrencyGroupRoutes = router();

concurrencyGroupRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/projects/{project}/concurrency-groups",
    operationId: "listConcurrencyGroups",
    summary: "The project's concurrency groups in use: each one's holder and its waiters, in order",
    security,
    request: { params: z.object({ project: SLUG }) },
    responses: { 200: json(z.object({ items: z.array(ConcurrencyGroupView) }), "Groups held or waited for; a free group is not listed."), ...errors },
  }),
  async (c) => {
    const { project: slug } = c.req.valid("param");
    requireScope(c.var.principal, "read", slug);
    // The project exists (404 otherwise) before its object is woken.
    const project = await findProject(c.env, slug);
    return c.json({ items: await concurrencyGroupsStub(c.env, project.id).list() }, 200);
  },
);
