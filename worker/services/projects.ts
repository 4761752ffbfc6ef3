/** Looking up projects and pipelines in D1, with the 404s a caller should see. */
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { pipelines, pipelineVersions, projects } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError } from "../http/errors.ts";

const projectNotFound = (slug: string) => new ApiError(404, "project_not_found", `no project '${slug}'`);
const pipelineNotFound = (slug: string, name: string) => new ApiError(404, "pipeline_not_found", `project '${slug}' has no pipeline '${name}'`);

export async function findProject(env: Env, slug: string) {
  const project = (await drizzle(env.DB).select().from(projects).where(eq(projects.slug, slug)).limit(1))[0];
  if (!project) throw projectNotFound(slug);
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
  if (!row) throw pipelineNotFound(projectSlug, name);
  return row;
}

/**
 * A project and its pipeline with the current version in one D1 query, where a trigger would
 * otherwise wait for two round trips in a row; the same 404s as findProject, then findPipeline.
 */
export async function findProjectPipeline(env: Env, slug: string, name: string) {
  const row = (
    await drizzle(env.DB)
      .select({ project: projects, pipeline: pipelines, version: pipelineVersions })
      .from(projects)
      .leftJoin(pipelines, and(eq(pipelines.projectId, projects.id), eq(pipelines.name, name)))
      .leftJoin(pipelineVersions, eq(pipelineVersions.id, pipelines.currentVersionId))
      .where(eq(projects.slug, slug))
      .limit(1)
  )[0];
  if (!row) throw projectNotFound(slug);
  if (!row.pipeline || !row.version) throw pipelineNotFound(slug, name);
  return { project: row.project, pipeline: row.pipeline, version: row.version };
}
