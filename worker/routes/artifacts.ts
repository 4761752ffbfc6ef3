/** Every artifact across runs and projects: search, filters, metadata, download. */
import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, inArray, lt, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { ArtifactView, ErrorBody, listOf } from "../../domain/views.ts";
import { canSeeProject, projectFilter, requireScope } from "../auth/principal.ts";
import { artifacts } from "../../platform/db/schema.ts";
import { byteRange, rangeWithin } from "../http/byte-range.ts";
import { ApiError } from "../http/errors.ts";
import { artifactView, nameContains } from "../services/artifacts.ts";
import { errors, ID, json, router, security, SLUG } from "./common.ts";

export const artifactRoutes = router();

const ListQuery = z.object({
  q: z.string().max(200).optional().describe("part of the artifact's name"),
  project: SLUG.optional(),
  run: ID.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: ID.optional(),
});


artifactRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/artifacts",
    operationId: "listArtifacts",
    summary: "List artifacts, newest first, with search on the name",
    security,
    request: { query: ListQuery },
    responses: { 200: json(listOf(ArtifactView), "A page of artifacts."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    const q = c.req.valid("query");
    if (q.project) requireScope(c.var.principal, "read", q.project);
    const where: SQL[] = [];
    if (q.q) where.push(nameContains(artifacts.name, q.q));
    if (q.project) where.push(eq(artifacts.project, q.project));
    if (q.run) where.push(eq(artifacts.runId, q.run));
    const allowed = projectFilter(c.var.principal);
    if (allowed) where.push(inArray(artifacts.project, allowed.length ? allowed : [""]));
    if (q.cursor) where.push(lt(artifacts.id, q.cursor));
    const rows = await drizzle(c.env.DB)
      .select()
      .from(artifacts)
      .where(where.length ? and(...where) : undefined)
      .orderBy(desc(artifacts.id))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    return c.json({ items: page.map(artifactView), cursor: rows.length > q.limit ? page[page.length - 1]!.id : null }, 200);
  },
);

async function findArtifact(db: D1Database, id: string, principal: Parameters<typeof canSeeProject>[0]) {
  const row = (await drizzle(db).select().from(artifacts).where(eq(artifacts.id, id)).limit(1))[0];
  if (!row || !canSeeProject(principal, row.project)) throw new ApiError(404, "artifact_not_found", `no artifact ${id}`);
  return row;
}

artifactRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/artifacts/{artifact}",
    operationId: "getArtifact",
    summary: "An artifact's metadata",
    security,
    request: { params: z.object({ artifact: ID }) },
    responses: { 200: json(ArtifactView, "The artifact."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    return c.json(artifactView(await findArtifact(c.env.DB, c.req.valid("param").artifact, c.var.principal)), 200);
  },
);

artifactRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/artifacts/{artifact}/download",
    operationId: "downloadArtifact",
    summary: "Download an artifact's bytes, whole or a byte range",
    description:
      "Streamed straight from storage. `Range: bytes=N-` or `bytes=N-M` answers 206 with those bytes (`content-range` says which of how many); a range that starts at or past the end answers 416; any other form of `Range` is ignored (200, the whole artifact).",
    security,
    request: {
      params: z.object({ artifact: ID }),
      headers: z.object({ range: z.string().optional().describe("`bytes=N-` or `bytes=N-M`") }),
    },
    responses: {
      200: { description: "The bytes, with their content type and length.", content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } },
      206: { description: "The range asked for.", content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } },
      416: { description: "The range starts at or past the artifact's end.", content: { "application/json": { schema: ErrorBody } } },
      ...errors,
    },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    const row = await findArtifact(c.env.DB, c.req.valid("param").artifact, c.var.principal);
    if (row.expiredAt) throw new ApiError(410, "expired", `artifact ${row.id} was removed by the project's retention`);
    const asked = byteRange(c.req.header("range"));
    const range = asked && rangeWithin(asked, row.size);
    if (asked && !range) {
      throw new ApiError(416, "range_not_satisfiable", `artifact ${row.id} has ${row.size} bytes; ask for a range that starts before byte ${row.size}`, undefined, {
        "content-range": `bytes */${row.size}`,
      });
    }
    const object = await c.env.ARTIFACTS.get(row.r2Key, range ? { range: { offset: range.from, length: range.to - range.from } } : undefined);
    if (!object) throw new ApiError(404, "artifact_missing", `the bytes of artifact ${row.id} are missing from storage`);
    const filename = row.name.split("/").pop()!.replace(/["\\\r\n]/g, "_");
    const headers: Record<string, string> = {
      "content-type": row.contentType,
      "content-length": String(range ? range.to - range.from : object.size),
      "accept-ranges": "bytes",
      "content-disposition": `attachment; filename="${filename}"; filename*=UTF-8''${encodeURIComponent(filename)}`,
      "x-content-type-options": "nosniff",
      etag: object.httpEtag,
    };
    if (range) headers["content-range"] = `bytes ${range.from}-${range.to - 1}/${object.size}`;
    return c.body(object.body, range ? 206 : 200, headers);
  },
);
