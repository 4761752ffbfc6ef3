/**
 * Editing and deleting projects, and deleting pipelines (docs/triggers.md for statuses; the
 * dashboard's project settings page calls these). Admin scope on the project.
 *
 * Deleting a project removes everything of it: its pipelines (and their versions, schedules and
 * schedule slots) first, so no new run can start; then its runs page by page — their D1 rows,
 * their RunObjects' storage, their logs and artifacts in R2; then its secrets, webhook
 * deliveries, artifact rows, tokens' access to it, and the project row last. A failure midway
 * leaves the project in place: deleting it again finishes the work.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { and, eq, inArray, isNotNull, notInArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { ProjectView } from "../../domain/views.ts";
import { ProjectPatch } from "../../domain/project-settings.ts";
import { TERMINAL_STATES } from "../../domain/states.ts";
import { requireScope } from "../auth/principal.ts";
import { encryptSecret } from "../../platform/crypto.ts";
import {
  artifacts,
  jobAttempts,
  jobs,
  pipelines,
  pipelineVersions,
  projects,
  projectSecrets,
  runAttempts,
  runs,
  schedules,
  scheduleSlots,
  stepRuns,
  tokens,
  webhookDeliveries,
} from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { runStub } from "../../platform/stubs.ts";
import { ApiError, unwrap } from "../http/errors.ts";
import { auditContext, auditRow } from "../services/audit.ts";
import { findPipeline, findProject } from "../services/projects.ts";
import { errors, json, NAME, router, security, SLUG } from "./common.ts";
import { projectView } from "./projects.ts";

export const projectSettingsRoutes = router();

/** Runs deleted per round: D1 binds at most 100 parameters per statement. */
const RUN_PAGE = 50;

projectSettingsRoutes.openapi(
  createRoute({
    method: "patch",
    operationId: "updateProject",
    path: "/api/v1/projects/{project}",
    summary: "Change a project's settings",
    description:
      "Any of `name`, `repository` (null: none), `webhookSecret` (write-only), `statuses` (`{github: \"owner/name\"}` to report commit statuses with the project's GITHUB_TOKEN secret; null: none), `retention` (`{runs?, artifacts?, logs?, caches?}` in days; null: keep everything). Fields left out keep their value. Runs already started keep the settings they started with.",
    security,
    request: { params: z.object({ project: SLUG }), body: { required: true, content: { "application/json": { schema: ProjectPatch } } } },
    responses: { 200: json(ProjectView, "The project as it is now."), ...errors },
  }),
  async (c) => {
    const { project: slug } = c.req.valid("param");
    requireScope(c.var.principal, "admin", slug);
    const project = await findProject(c.env, slug);
    const patch = c.req.valid("json");
    if (Object.keys(patch).length === 0) {
      throw new ApiError(400, "empty_patch", "send at least one of name, repository, webhookSecret, statuses, retention");
    }
    const set: Partial<typeof projects.$inferInsert> = {};
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.repository !== undefined) set.repository = patch.repository;
    if (patch.webhookSecret !== undefined) set.webhookSecret = await encryptSecret(c.env, patch.webhookSecret);
    if (patch.statuses !== undefined) {
      set.statuses = patch.statuses;
      // A refusal of the old setting says nothing about the new one.
      set.statusesError = null;
    }
    if (patch.retention !== undefined) set.retention = patch.retention && Object.keys(patch.retention).length > 0 ? patch.retention : null;
    const db = drizzle(c.env.DB);
    const [updated] = await db.batch([
      db.update(projects).set(set).where(eq(projects.id, project.id)).returning(),
      // The fields changed, never their values (a webhook secret is a secret).
      auditRow(c.env, auditContext(c), { action: "project.update", project: slug, target: Object.keys(patch).sort().join(",") }),
    ]);
    if (!updated[0]) throw new ApiError(404, "project_not_found", `no project '${slug}'`);
    return c.json(projectView(updated[0]), 200);
  },
);

projectSettingsRoutes.openapi(
  createRoute({
    method: "delete",
    operationId: "deleteProject",
    path: "/api/v1/projects/{project}",
    summary: "Delete a project and everything of it",
    description:
      "Refused with 409 `runs_active` while any run of the project has not ended (cancel them first). Then its pipelines, runs (with their logs and artifacts), secrets, webhook deliveries and tokens' access to it are deleted. Not undoable.",
    security,
    request: { params: z.object({ project: SLUG }) },
    responses: { 204: { description: "Deleted." }, ...errors },
  }),
  async (c) => {
    const { project: slug } = c.req.valid("param");
    requireScope(c.var.principal, "admin", slug);
    const project = await findProject(c.env, slug);
    const db = drizzle(c.env.DB);
    const active = await db
      .select({ number: runs.number, status: runs.status })
      .from(runs)
      .where(and(eq(runs.projectId, project.id), notInArray(runs.status, [...TERMINAL_STATES])))
      .limit(10);
    if (active.length > 0) {
      throw new ApiError(409, "runs_active", `project '${slug}' has runs that have not ended (${active.map((r) => `#${r.number} ${r.status}`).join(", ")}); cancel them first`, {
        runs: active.map((r) => r.number),
      });
    }
    const ids = (await db.select({ id: pipelines.id }).from(pipelines).where(eq(pipelines.projectId, project.id))).map((p) => p.id);
    for (const id of ids) await deletePipelineRows(c.env, id);
    for (;;) {
      const page = (await db.select({ id: runs.id }).from(runs).where(eq(runs.projectId, project.id)).limit(RUN_PAGE)).map((r) => r.id);
      if (page.length === 0) break;
      await deleteRuns(c.env, page);
    }
    const withAccess = (await db.select({ id: tokens.id, projects: tokens.projects }).from(tokens).where(isNotNull(tokens.projects))).filter((t) =>
      t.projects?.includes(slug),
    );
    await db.batch([
      db.delete(projectSecrets).where(eq(projectSecrets.projectId, project.id)),
      db.delete(webhookDeliveries).where(eq(webhookDeliveries.projectId, project.id)),
      db.delete(artifacts).where(eq(artifacts.projectId, project.id)),
      // A token limited to this project keeps no access to it: not to a new project of the same slug either.
      ...withAccess.map((t) => db.update(tokens).set({ projects: t.projects!.filter((p) => p !== slug) }).where(eq(tokens.id, t.id))),
      db.delete(projects).where(eq(projects.id, project.id)),
      auditRow(c.env, auditContext(c), { action: "project.delete", project: slug, target: slug }),
    ]);
    return c.body(null, 204);
  },
);

projectSettingsRoutes.openapi(
  createRoute({
    method: "delete",
    operationId: "deletePipeline",
    path: "/api/v1/projects/{project}/pipelines/{pipeline}",
    summary: "Delete a pipeline",
    description:
      "The pipeline, all its versions and its schedules go; it can no longer be triggered. Its runs stay (each keeps the definition it ran), and runs in progress carry on.",
    security,
    request: { params: z.object({ project: SLUG, pipeline: NAME }) },
    responses: { 204: { description: "Deleted." }, ...errors },
  }),
  async (c) => {
    const { project: slug, pipeline: name } = c.req.valid("param");
    requireScope(c.var.principal, "admin", slug);
    const project = await findProject(c.env, slug);
    const { pipeline } = await findPipeline(c.env, project.id, slug, name);
    await deletePipelineRows(c.env, pipeline.id, auditRow(c.env, auditContext(c), { action: "pipeline.delete", project: slug, target: name }));
    return c.body(null, 204);
  },
);

/** A pipeline's rows, in one batch (with the audit row of the change, when given). */
async function deletePipelineRows(env: Env, pipelineId: string, audit?: ReturnType<typeof auditRow>): Promise<void> {
  const db = drizzle(env.DB);
  await db.batch([
    db.delete(scheduleSlots).where(eq(scheduleSlots.pipelineId, pipelineId)),
    db.delete(schedules).where(eq(schedules.pipelineId, pipelineId)),
    // Versions before the pipeline: they reference it.
    db.delete(pipelineVersions).where(eq(pipelineVersions.pipelineId, pipelineId)),
    db.delete(pipelines).where(eq(pipelines.id, pipelineId)),
    ...(audit ? [audit] : []),
  ]);
}

/** Ended runs: their D1 rows, then each object's storage and R2 objects (RunObject.destroy). */
async function deleteRuns(env: Env, runIds: string[]): Promise<void> {
  const db = drizzle(env.DB);
  await db.batch([
    db.delete(stepRuns).where(inArray(stepRuns.runId, runIds)),
    db.delete(jobAttempts).where(inArray(jobAttempts.runId, runIds)),
    db.delete(jobs).where(inArray(jobs.runId, runIds)),
    db.delete(runAttempts).where(inArray(runAttempts.runId, runIds)),
    db.delete(runs).where(inArray(runs.id, runIds)),
  ]);
  for (const id of runIds) unwrap(await runStub(env, id).destroy(id));
}
