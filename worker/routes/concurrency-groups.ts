/**
 * Who holds each concurrency group and who waits for it (docs/state-machine.md, "Concurrency
 * groups"): one project's (GET /api/v1/projects/:project/concurrency-groups), or those of every
 * project the caller sees that has a run going (GET /api/v1/queue/groups, the queue page).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { drizzle } from "drizzle-orm/d1";
import { inArray } from "drizzle-orm";
import { ConcurrencyGroupView } from "../../domain/concurrency-groups.ts";
import { STATES, TERMINAL_STATES } from "../../domain/states.ts";
import { runs } from "../../platform/db/schema.ts";
import { concurrencyGroupsStub } from "../../platform/stubs.ts";
import { canSeeProject, requireScope } from "../auth/principal.ts";
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

/** How many projects with runs going the queue page asks (each is one object's answer). */
const MAX_ACTIVE_PROJECTS = 50;

concurrencyGroupRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/queue/groups",
    operationId: "listActiveConcurrencyGroups",
    summary: "Concurrency groups in use in the projects you see that have a run going: holder and waiters",
    security,
    responses: {
      200: json(
        z.object({ items: z.array(ConcurrencyGroupView.extend({ project: z.string() })) }),
        `Groups held or waited for, by project (at most ${MAX_ACTIVE_PROJECTS} projects with runs going).`,
      ),
      ...errors,
    },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    // A run waiting for a group, or one with a job waiting for one, is going (CREATED or RUNNING).
    const rows = await drizzle(c.env.DB)
      .selectDistinct({ id: runs.projectId, slug: runs.project })
      .from(runs)
      .where(inArray(runs.status, STATES.filter((s) => !(TERMINAL_STATES as readonly string[]).includes(s))))
      .limit(500);
    const visible = rows.filter((r) => canSeeProject(c.var.principal, r.slug)).slice(0, MAX_ACTIVE_PROJECTS);
    const lists = await Promise.all(visible.map((r) => concurrencyGroupsStub(c.env, r.id).list()));
    return c.json({ items: lists.flatMap((groups, i) => groups.map((g) => ({ project: visible[i]!.slug, ...g }))) }, 200);
  },
);
