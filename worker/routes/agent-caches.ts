/**
 * Job caches for agents (job token; worker/services/caches.ts, docs/agent-protocol.md): look an
 * entry up, download it, save a new one. The project and queue always come from the job token's
 * own job, never from the request.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { CACHE_FORMATS, CacheLookup, CacheSaved, cacheKeyProblem, MAX_CACHE_ENTRY_BYTES, MAX_CACHE_SINGLE_PUT_BYTES, MAX_RESTORE_KEYS } from "../../domain/caches.ts";
import { AGENT_API_BASE, SHA256_HEX } from "../../domain/protocol.ts";
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { cacheEntries } from "../../platform/db/schema.ts";
import { ApiError, unwrap } from "../http/errors.ts";
import { findCache, saveCache } from "../services/caches.ts";
import { jobRun } from "./agent-api.ts";
import { errors, ID, json, router } from "./common.ts";

export const agentCacheRoutes = router();

const security = [{ jobToken: [] }];
const JobParam = z.object({ jobAttemptId: ID });

function checkKey(key: string, what = "key"): string {
  const problem = cacheKeyProblem(key);
  if (problem) throw new ApiError(400, "invalid_cache_key", `${what}: ${problem}`);
  return key;
}

async function jobScope(env: Parameters<typeof jobRun>[0], header: string | undefined, jobAttemptId: string) {
  const { token, run } = jobRun(env, header, jobAttemptId);
  const identity = unwrap(await run.identifyJob(jobAttemptId, token));
  return { projectId: identity.projectId, queue: identity.queue };
}

agentCacheRoutes.openapi(
  createRoute({
    method: "get",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/cache`,
    operationId: "lookupCache",
    summary: "The cache entry to restore: the exact key, else the newest under a restore key (this job's project and queue)",
    security,
    request: {
      params: JobParam,
      query: z.object({
        key: z.string().min(1).max(1024),
        restore: z.string().max(10_000).optional().describe("restore keys (prefixes), comma-separated, tried in order"),
      }),
    },
    responses: { 200: json(CacheLookup, "`hit` says exact, partial or miss."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId } = c.req.valid("param");
    const q = c.req.valid("query");
    const key = checkKey(q.key);
    const restoreKeys = (q.restore ?? "").split(",").filter((k) => k !== "");
    if (restoreKeys.length > MAX_RESTORE_KEYS) throw new ApiError(400, "too_many_restore_keys", `at most ${MAX_RESTORE_KEYS} restore keys`);
    for (const k of restoreKeys) checkKey(k, "restore key");
    const scope = await jobScope(c.env, c.req.header("authorization"), jobAttemptId);
    const found = await findCache(c.env, scope, key, restoreKeys, Date.now());
    if (!found.entry) return c.json({ hit: "miss" as const }, 200);
    const { entry } = found;
    return c.json({ hit: found.hit, entry: entry.id, key: entry.key, size: entry.size, sha256: entry.sha256 }, 200);
  },
);

agentCacheRoutes.openapi(
  createRoute({
    method: "get",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/cache/{entry}`,
    operationId: "downloadCache",
    summary: "A cache entry's archive (tar, zstd or gzip), streamed",
    security,
    // Not ID: a malformed entry is a 404 after the token is checked, not a 400 before it.
    request: { params: JobParam.extend({ entry: z.string().min(1).max(100) }) },
    responses: { 200: { description: "The archive.", content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } }, ...errors },
  }),
  async (c) => {
    const { jobAttemptId, entry } = c.req.valid("param");
    const scope = await jobScope(c.env, c.req.header("authorization"), jobAttemptId);
    const row = (
      await drizzle(c.env.DB)
        .select()
        .from(cacheEntries)
        .where(and(eq(cacheEntries.id, entry), eq(cacheEntries.projectId, scope.projectId), eq(cacheEntries.queue, scope.queue)))
        .limit(1)
    )[0];
    if (!row) throw new ApiError(404, "cache_not_found", `no cache entry ${entry} for this job's project and queue`);
    const object = await c.env.ARTIFACTS.get(row.r2Key);
    if (!object) throw new ApiError(404, "cache_not_found", `cache entry ${entry} was evicted`);
    const contentType = object.httpMetadata?.contentType ?? "application/octet-stream";
    return c.body(object.body, 200, { "content-type": contentType, "content-length": String(object.size) });
  },
);

agentCacheRoutes.openapi(
  createRoute({
    method: "put",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/cache`,
    operationId: "uploadCache",
    summary: `Save a cache entry of at most ${MAX_CACHE_SINGLE_PUT_BYTES} bytes (tar, zstd or gzip) in one request for this job's project and queue (larger: cache-uploads)`,
    security,
    request: {
      params: JobParam,
      query: z.object({
        key: z.string().min(1).max(1024),
        size: z.coerce.number().int().min(1),
        sha256: SHA256_HEX,
        format: z.enum(CACHE_FORMATS).default("gzip").describe("the archive's compression (older agents send gzip and say nothing)"),
      }),
      body: { required: true, content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } },
    },
    responses: { 201: json(CacheSaved, "Saved."), 200: json(CacheSaved, "Another job saved this key first; kept theirs."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId } = c.req.valid("param");
    const q = c.req.valid("query");
    const key = checkKey(q.key);
    if (q.size > MAX_CACHE_ENTRY_BYTES) {
      throw new ApiError(413, "cache_too_large", `a cache entry may be at most ${MAX_CACHE_ENTRY_BYTES} bytes (compressed); this one is ${q.size}`);
    }
    if (q.size > MAX_CACHE_SINGLE_PUT_BYTES) {
      throw new ApiError(413, "use_multipart", `cache entries over ${MAX_CACHE_SINGLE_PUT_BYTES} bytes go through cache-uploads (multipart)`);
    }
    if (Number(c.req.header("content-length")) !== q.size) throw new ApiError(400, "size_mismatch", "content-length must equal the declared size");
    const scope = await jobScope(c.env, c.req.header("authorization"), jobAttemptId);
    let saved: { created: boolean };
    try {
      saved = await saveCache(c.env, scope, { key, size: q.size, sha256: q.sha256, format: q.format }, c.req.raw.body!, Date.now());
    } catch (error) {
      if (/digest|checksum|sha-?256/i.test(String(error))) {
        throw new ApiError(400, "sha256_mismatch", "the uploaded bytes do not match the declared sha256; nothing was stored");
      }
      throw error;
    }
    return c.json({ key, size: q.size, created: saved.created }, saved.created ? 201 : 200);
  },
);
