/** Projects and their pipelines (.act files, every version kept). */
import { auditContext, auditRow } from "../services/audit.ts";
import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { uuidv7 } from "uuidv7";
import { PipelineSummaryView, PipelineVersionView, ProjectView } from "../../domain/views.ts";
import { parsePipeline } from "../../domain/pipeline/parse.ts";
import { REPOSITORY_URL } from "../../domain/project-settings.ts";
import { redactRepository } from "../../domain/repository.ts";
import type { ParseResult } from "../../domain/pipeline/types.ts";
import { DEFAULT_QUEUE, queueRefusal, queuesOf } from "../../domain/queues.ts";
import { queueRules } from "../services/queues.ts";
import { PIPELINE_DEFAULTS } from "../../domain/pipeline/types.ts";
import { randomSecret, sha256Hex } from "../../domain/tokens.ts";
import { requireGlobalScope, requireScope, projectFilter } from "../auth/principal.ts";
import { pipelines, pipelineVersions, projects } from "../../platform/db/schema.ts";
import { isUniqueViolation } from "../../platform/db/unique.ts";
import { ApiError } from "../http/errors.ts";
import { encryptSecret } from "../../platform/crypto.ts";
import { findProject } from "../services/projects.ts";
import { storePipelineVersion } from "../services/pipeline-versions.ts";
import { errors, json, NAME, router, security, SLUG } from "./common.ts";
import type { Env } from "../../platform/env.ts";
import { isoTime } from "../../domain/time.ts";

const CreateProject = z.object({
  slug: SLUG,
  name: z.string().min(1).max(200).optional(),
  repository: REPOSITORY_URL.optional(),
  webhookSecret: z.string().min(16, "a webhook secret has at least 16 characters").max(200).optional(),
});

export const projectView = (p: typeof projects.$inferSelect) => ({
  id: p.id,
  slug: p.slug,
  name: p.name,
  // Credentials in the URL are for the checkout only (domain/repository.ts).
  repository: p.repository === null ? null : redactRepository(p.repository),
  createdAt: isoTime(p.createdAt),
  statuses: p.statuses ?? null,
  statusesError: p.statusesError ? { ...p.statusesError, at: isoTime(p.statusesError.at) } : null,
  retention: p.retention ?? null,
});

export const projectRoutes = router();

projectRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/projects",
    operationId: "createProject",
    summary: "Create a project",
    description: "When no webhookSecret is given one is generated; it is shown in this answer only.",
    security,
    request: { body: { required: true, content: { "application/json": { schema: CreateProject } } } },
    responses: {
      201: json(ProjectView.extend({ webhookSecret: z.string() }), "The project, with its webhook secret (shown once)."),
      ...errors,
    },
  }),
  async (c) => {
    requireGlobalScope(c.var.principal, "admin");
    const body = c.req.valid("json");
    const db = drizzle(c.env.DB);
    const exists = await db.select({ id: projects.id }).from(projects).where(eq(projects.slug, body.slug)).limit(1);
    if (exists.length > 0) throw new ApiError(409, "project_exists", `a project '${body.slug}' already exists`);
    const webhookSecret = body.webhookSecret ?? randomSecret(24);
    const row = {
      id: uuidv7(),
      slug: body.slug,
      name: body.name ?? body.slug,
      repository: body.repository ?? null,
      webhookSecret: await encryptSecret(c.env, webhookSecret),
      runCounter: 0,
      retention: null,
      createdAt: Date.now(),
      statuses: null,
      statusesError: null,
    };
    try {
      await db.batch([db.insert(projects).values(row), auditRow(c.env, auditContext(c), { action: "project.create", project: row.slug, target: row.slug })]);
    } catch (error) {
      if (isUniqueViolation(error)) throw new ApiError(409, "project_exists", `a project '${body.slug}' already exists`);
      throw error;
    }
    return c.json({ ...projectView(row), webhookSecret }, 201);
  },
);

projectRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/projects",
    operationId: "listProjects",
    summary: "List projects",
    security,
    responses: { 200: json(z.object({ items: z.array(ProjectView), cursor: z.null() }), "Every project the token may see."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    const allowed = projectFilter(c.var.principal);
    const db = drizzle(c.env.DB);
    const rows = await db
      .select()
      .from(projects)
      .where(allowed ? inArray(projects.slug, allowed.length ? allowed : [""]) : undefined)
      .orderBy(projects.slug);
    return c.json({ items: rows.map(projectView), cursor: null }, 200);
  },
);

projectRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/projects/{project}",
    operationId: "getProject",
    summary: "Get a project",
    security,
    request: { params: z.object({ project: SLUG }) },
    responses: { 200: json(ProjectView, "The project."), ...errors },
  }),
  async (c) => {
    const { project } = c.req.valid("param");
    requireScope(c.var.principal, "read", project);
    return c.json(projectView(await findProject(c.env, project)), 200);
  },
);

const Problems = z.object({
  error: z.object({
    code: z.literal("invalid_pipeline"),
    message: z.string(),
    details: z.object({
      problems: z.array(z.object({ message: z.string(), line: z.number(), column: z.number(), path: z.array(z.union([z.string(), z.number()])) })),
    }),
  }),
});

projectRoutes.openapi(
  createRoute({
    method: "put",
    path: "/api/v1/projects/{project}/pipelines/{pipeline}",
    operationId: "putPipeline",
    summary: "Store a pipeline (.act file)",
    description:
      "The body is the .act file (YAML). It is checked whole; any problem gives a 400 listing every problem with its line and column, and nothing is stored. Storing the same content again stores no new version; the content of an earlier version makes that version current again (200, `changed: true`).",
    security,
    request: {
      params: z.object({ project: SLUG, pipeline: NAME }),
      body: { required: true, content: { "text/plain": { schema: z.string() }, "application/yaml": { schema: z.string() } } },
    },
    responses: {
      201: json(PipelineSummaryView.extend({ changed: z.boolean() }), "A new version was stored."),
      200: json(PipelineSummaryView.extend({ changed: z.boolean() }), "Nothing new stored: the content is the current version's (`changed: false`) or an earlier version's, now current again (`changed: true`)."),
      ...errors,
      400: json(Problems, "The file has problems; nothing was stored."),
    },
  }),
  async (c) => {
    const { project: slug, pipeline: name } = c.req.valid("param");
    requireScope(c.var.principal, "admin", slug);
    const project = await findProject(c.env, slug);
    if (/^multipart\//i.test(c.req.header("content-type") ?? "")) {
      throw new ApiError(415, "unsupported_media_type", "send the .act file's bytes as the body (curl --data-binary @build.act -H 'Content-Type: text/plain'), not a multipart form");
    }
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.byteLength > PIPELINE_DEFAULTS.maxFileBytes) {
      throw new ApiError(413, "pipeline_too_large", `a pipeline file may be at most ${PIPELINE_DEFAULTS.maxFileBytes} bytes`);
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
    } catch {
      throw new ApiError(400, "invalid_encoding", "a pipeline file must be UTF-8 text");
    }
    const parsed = await parseForProject(c.env, text, name, slug);
    if (!parsed.ok) {
      const n = parsed.problems.length;
      const first = parsed.problems[0]!;
      return c.json(
        {
          error: {
            code: "invalid_pipeline" as const,
            message: `${n} problem${n === 1 ? "" : "s"} in the pipeline file; the first at line ${first.line}, column ${first.column}: ${first.message}`,
            details: { problems: parsed.problems },
          },
        },
        400,
      );
    }
    const stored = await storePipelineVersion(c.env, { projectId: project.id, name, text, hash: await sha256Hex(bytes), definition: parsed.pipeline, by: { who: auditContext(c), project: slug } });
    const body = { ...summary(stored.pipelineId, slug, name, stored.version, parsed.pipeline.jobs.map((j) => j.key), stored.updatedAt), changed: stored.outcome !== "unchanged" };
    if (stored.outcome === "created") return c.json(body, 201);
    return c.json(body, 200);
  },
);

/**
 * Parses a pipeline file for a project: its shape, then the queues its jobs name against the
 * registry (each must exist and allow the project), located in the file like any other problem.
 */
async function parseForProject(env: Env, text: string, name: string, project: string): Promise<ParseResult> {
  const parsed = parsePipeline(text, { name });
  if (!parsed.ok) return parsed;
  const named = queuesOf(parsed.pipeline.jobs);
  if (named.every((q) => q === DEFAULT_QUEUE)) return parsed;
  const rules = await queueRules(env, named);
  if (named.every((q) => queueRefusal(rules, q, project) === null)) return parsed;
  // Parsed again only when a queue is refused, so the problem carries its line and column.
  return parsePipeline(text, { name, queueRefusal: (queue) => queueRefusal(rules, queue, project) });
}

function summary(
  id: string,
  project: string,
  name: string,
  version: { id: string; version: number; hash: string; createdAt: number },
  jobs: string[],
  updatedAt: number,
) {
  return {
    id,
    project,
    name,
    version: { id: version.id, version: version.version, hash: version.hash, createdAt: isoTime(version.createdAt) },
    jobs,
    updatedAt: isoTime(updatedAt),
  };
}

const jobKeys = (definition: string) => (JSON.parse(definition) as { jobs: { key: string }[] }).jobs.map((j) => j.key);

projectRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/projects/{project}/pipelines",
    operationId: "listPipelines",
    summary: "List a project's pipelines",
    security,
    request: { params: z.object({ project: SLUG }) },
    responses: { 200: json(z.object({ items: z.array(PipelineSummaryView), cursor: z.null() }), "The pipelines, by name."), ...errors },
  }),
  async (c) => {
    const { project: slug } = c.req.valid("param");
    requireScope(c.var.principal, "read", slug);
    const project = await findProject(c.env, slug);
    const rows = await drizzle(c.env.DB)
      .select({ pipeline: pipelines, version: pipelineVersions })
      .from(pipelines)
      .innerJoin(pipelineVersions, eq(pipelineVersions.id, pipelines.currentVersionId))
      .where(eq(pipelines.projectId, project.id))
      .orderBy(pipelines.name);
    const items = rows.map(({ pipeline, version }) =>
      summary(pipeline.id, slug, pipeline.name, version, jobKeys(version.definition), pipeline.updatedAt),
    );
    return c.json({ items, cursor: null }, 200);
  },
);

projectRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/projects/{project}/pipelines/{pipeline}",
    operationId: "getPipeline",
    summary: "Get a pipeline: its current file and every version",
    security,
    request: { params: z.object({ project: SLUG, pipeline: NAME }) },
    responses: {
      200: json(
        PipelineSummaryView.extend({ content: z.string(), definition: z.unknown(), versions: z.array(PipelineVersionView) }),
        "The pipeline, its current file and its versions, newest first.",
      ),
      ...errors,
    },
  }),
  async (c) => {
    const { project: slug, pipeline: name } = c.req.valid("param");
    requireScope(c.var.principal, "read", slug);
    const project = await findProject(c.env, slug);
    const db = drizzle(c.env.DB);
    const pipeline = (await db.select().from(pipelines).where(and(eq(pipelines.projectId, project.id), eq(pipelines.name, name))).limit(1))[0];
    if (!pipeline) throw new ApiError(404, "pipeline_not_found", `project '${slug}' has no pipeline '${name}'`);
    const versions = await db.select().from(pipelineVersions).where(eq(pipelineVersions.pipelineId, pipeline.id)).orderBy(desc(pipelineVersions.version));
    const current = versions.find((v) => v.id === pipeline.currentVersionId)!;
    return c.json(
      {
        ...summary(pipeline.id, slug, name, current, jobKeys(current.definition), pipeline.updatedAt),
        content: current.content,
        definition: JSON.parse(current.definition) as unknown,
        versions: versions.map((v) => ({ id: v.id, version: v.version, hash: v.hash, createdAt: isoTime(v.createdAt) })),
      },
      200,
    );
  },
);
