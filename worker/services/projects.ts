/** Looking up projects and pipelines in D1, with the 404s a caller should see. */
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { pipelines, pipelineVersions, projects } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError } from "../http/errors.ts";

export async function findProject(env: Env, slug: string) {
  const project = (await drizzle(env.DB).select().from(projects).where(eq(projects.slug, slug)).limit(1))[0];
  if (!project) throw new ApiError(404, "project_not_found", `no project '${slug}'`);
  return project;
}

export async function findPipeline(env: Env, projectId: string, projectSlug: string, name: string) {
  const db = drizzle(env.DB);
  const row = (
    await db
      .select({ pipeline: pipelines, version: pipelineVersions })
      .from(pipelines)
      .innerJoin(pipelineVersions, eq(pipelineVersions.id, pipelines.currentVersionId))
      .where(and(eq(pipelines.projectId, projectId), eq(pipelines.name, name)))
      .limit(1)
  )[0];
  if (!row) throw new ApiError(404, "pipeline_not_found", `project '${projectSlug}' has no pipeline '${name}'`);
  return row;
}
