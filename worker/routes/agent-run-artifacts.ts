/**
 * `yardmaster-agent artifact download` (docs/agent-protocol.md "Artifacts of the run"): a running
 * job lists and downloads the artifacts of its own run — any job's, any run attempt's — with its
 * job token. The RunObject checks the token (a live job attempt of that run); the artifacts are
 * then read from D1 (the index the artifacts page lists; an artifact is projected there as it is
 * recorded) ALWAYS narrowed to the token's run: an artifact id of another run is 404, as if it
 * did not exist. Bytes stream from R2 to the agent, never whole in memory.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { AGENT_API_BASE } from "../../domain/protocol.ts";
import { ArtifactView, listOf } from "../../domain/views.ts";
import { artifacts } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError, unwrap } from "../http/errors.ts";
import { artifactView } from "../services/artifacts.ts";
import { jobRun } from "./agent-api.ts";
import { errors, ID, json, router } from "./common.ts";

export const agentRunArtifactRoutes = router();

const security = [{ jobToken: [] }];

const ListQuery = z.object({
  job: z.string().min(1).max(200).optional().describe("only this job's artifacts (its key)"),
  limit: z.coerce.number().int().min(1).max(500).default(500),
  cursor: ID.optional(),
});

/** The run whose artifacts the job token may read: its own, and only while its job attempt runs. */
async function tokenRun(env: Env, header: string | undefined, jobAttemptId: string): Promise<string> {
  const { token, run } = jobRun(env, header, jobAttemptId);
  return unwrap(await run.identifyJob(jobAttemptId, token)).runId;
}

agentRunArtifactRoutes.openapi(
  createRoute({
    method: "get",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/run/artifacts`,
    operationId: "listJobRunArtifacts",
    summary: "The artifacts of this job's run, newest first (yardmaster-agent artifact download)",
    description:
      "Every artifact the run's jobs uploaded so far, in every run attempt, newest first; `job` narrows to one job's. Pass `cursor` back for the next page. An artifact removed by retention is listed with `expired: true`.",
    security,
    request: { params: z.object({ jobAttemptId: ID }), query: ListQuery },
    responses: { 200: json(listOf(ArtifactView), "A page of the run's artifacts."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId } = c.req.valid("param");
    const q = c.req.valid("query");
    const runId = await tokenRun(c.env, c.req.header("authorization"), jobAttemptId);
    const where: SQL[] = [eq(artifacts.runId, runId)];
    if (q.job) where.push(eq(artifacts.job, q.job));
    if (q.cursor) where.push(lt(artifacts.id, q.cursor));
    const rows = await drizzle(c.env.DB)
      .select()
      .from(artifacts)
      .where(and(...where))
      .orderBy(desc(artifacts.id))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    return c.json({ items: page.map(artifactView), cursor: rows.length > q.limit ? page[page.length - 1]!.id : null }, 200);
  },
);

agentRunArtifactRoutes.openapi(
  createRoute({
    method: "get",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/run/artifacts/{artifact}`,
    operationId: "downloadJobRunArtifact",
    summary: "Download an artifact of this job's run (bytes; check them against the listed sha256)",
    security,
    request: { params: z.object({ jobAttemptId: ID, artifact: ID }) },
    responses: {
      200: { description: "The bytes, with their length; `x-checksum-sha256` is the recorded SHA-256.", content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } },
      ...errors,
    },
  }),
  async (c) => {
    const { jobAttemptId, artifact } = c.req.valid("param");
    const runId = await tokenRun(c.env, c.req.header("authorization"), jobAttemptId);
    // Narrowed to the token's run: another run's artifact is not this job's to read.
    const row = (
      await drizzle(c.env.DB)
        .select()
        .from(artifacts)
        .where(and(eq(artifacts.id, artifact), eq(artifacts.runId, runId)))
        .limit(1)
    )[0];
    if (!row) throw new ApiError(404, "artifact_not_found", `this job's run has no artifact ${artifact}`);
    if (row.expiredAt) throw new ApiError(410, "expired", `artifact ${row.name} was removed by the project's retention`);
    const object = await c.env.ARTIFACTS.get(row.r2Key);
    if (!object) throw new ApiError(404, "artifact_missing", `the bytes of artifact ${row.name} are missing from storage`);
    return c.body(object.body, 200, {
      "content-type": "application/octet-stream",
      "content-length": String(object.size),
      "x-checksum-sha256": row.sha256,
    });
  },
);
