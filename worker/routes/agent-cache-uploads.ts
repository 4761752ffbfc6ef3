/**
 * Multipart cache saves (job token; docs/agent-protocol.md "Caches"): entries larger than one
 * part go up in `CACHE_PART_BYTES` parts straight into an R2 multipart upload, up to
 * `MAX_CACHE_ENTRY_BYTES`. The agent streams the archive out of its compressor, so the size is
 * known only at the end: each part is checked against the part size and the part count against
 * the entry limit as it arrives, and the whole at completion (its size, then its SHA-256, by
 * streaming the stored object). Only then is the entry indexed; until then there is no entry,
 * and an abort (or R2's own expiry of an upload never completed) leaves nothing.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { uuidv7 } from "uuidv7";
import {
  CACHE_CONTENT_TYPES,
  CACHE_FORMATS,
  CACHE_PART_BYTES,
  type CacheFormat,
  CachePartAck,
  CacheSaved,
  CacheUploadComplete,
  CacheUploadStart,
  cacheKeyProblem,
  MAX_CACHE_ENTRY_BYTES,
  MAX_CACHE_PARTS,
} from "../../domain/caches.ts";
import { AGENT_API_BASE } from "../../domain/protocol.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError, unwrap } from "../http/errors.ts";
import { sha256OfObject } from "../services/artifacts.ts";
import { cacheObjectKey, indexCache } from "../services/caches.ts";
import { jobRun } from "./agent-api.ts";
import { errors, ID, json, router } from "./common.ts";

export const agentCacheUploadRoutes = router();

const security = [{ jobToken: [] }];
const JobParam = z.object({ jobAttemptId: ID });
const UploadParam = JobParam.extend({ uploadId: z.string().min(1).max(4096) });
const tooLarge = (what: string) => new ApiError(413, "cache_too_large", `a cache entry may be at most ${MAX_CACHE_ENTRY_BYTES} bytes (compressed); ${what}`);

function checkKey(key: string): string {
  const problem = cacheKeyProblem(key);
  if (problem) throw new ApiError(400, "invalid_cache_key", `key: ${problem}`);
  return key;
}

/** What the agent carries between calls: R2's upload id, the entry's own id (its R2 key) and the cache key. */
interface UploadTicket {
  u: string;
  k: string;
  key: string;
  f: CacheFormat;
}
const encodeTicket = (t: UploadTicket) => btoa(JSON.stringify(t)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
function decodeTicket(id: string): UploadTicket {
  try {
    const t = JSON.parse(atob(id.replace(/-/g, "+").replace(/_/g, "/"))) as UploadTicket;
    if (typeof t.u !== "string" || typeof t.key !== "string" || cacheKeyProblem(t.key)) throw new Error("malformed");
    return { u: t.u, k: ID.parse(t.k), key: t.key, f: z.enum(CACHE_FORMATS).parse(t.f) };
  } catch {
    throw new ApiError(404, "upload_not_found", "unknown cache upload id");
  }
}

/**
 * The job's scope (checked first: a wrong token is refused before the ticket is read) and the
 * upload. The R2 key comes from the job token's own project and queue: a ticket cannot reach
 * another queue's caches, and R2 ties its upload id to that key.
 */
async function resume(env: Env, header: string | undefined, jobAttemptId: string, uploadId: string) {
  const { token, run } = jobRun(env, header, jobAttemptId);
  const identity = unwrap(await run.identifyJob(jobAttemptId, token));
  const scope = { projectId: identity.projectId, queue: identity.queue };
  const ticket = decodeTicket(uploadId);
  const r2Key = cacheObjectKey(scope.projectId, scope.queue, ticket.k, ticket.f);
  return { scope, ticket, r2Key, upload: env.ARTIFACTS.resumeMultipartUpload(r2Key, ticket.u) };
}

agentCacheUploadRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/cache-uploads`,
    operationId: "startCacheUpload",
    summary: `Start a multipart cache save (an entry over one part; at most ${MAX_CACHE_ENTRY_BYTES} bytes) for this job's project and queue`,
    security,
    request: { params: JobParam, body: { required: true, content: { "application/json": { schema: z.object({ key: z.string().min(1).max(1024), format: z.enum(CACHE_FORMATS).default("gzip") }) } } } },
    responses: { 201: json(CacheUploadStart, "Send parts of partSize bytes (the last may be smaller), at most maxBytes in all."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId } = c.req.valid("param");
    const { key: requested, format } = c.req.valid("json");
    const key = checkKey(requested);
    const { token, run } = jobRun(c.env, c.req.header("authorization"), jobAttemptId);
    const identity = unwrap(await run.identifyJob(jobAttemptId, token));
    const k = uuidv7();
    const upload = await c.env.ARTIFACTS.createMultipartUpload(cacheObjectKey(identity.projectId, identity.queue, k, format), {
      httpMetadata: { contentType: CACHE_CONTENT_TYPES[format] },
    });
    return c.json({ uploadId: encodeTicket({ u: upload.uploadId, k, key, f: format }), partSize: CACHE_PART_BYTES, maxBytes: MAX_CACHE_ENTRY_BYTES }, 201);
  },
);

agentCacheUploadRoutes.openapi(
  createRoute({
    method: "put",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/cache-uploads/{uploadId}/parts/{partNumber}`,
    operationId: "uploadCachePart",
    summary: "Upload one part of a cache entry (bytes as the body)",
    security,
    request: {
      params: UploadParam.extend({ partNumber: z.coerce.number().int().min(1).max(10_000) }),
      body: { required: true, content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } },
    },
    responses: { 200: json(CachePartAck, "Stored."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId, uploadId, partNumber } = c.req.valid("param");
    const { upload } = await resume(c.env, c.req.header("authorization"), jobAttemptId, uploadId);
    if (partNumber > MAX_CACHE_PARTS) throw tooLarge(`part ${partNumber} of ${CACHE_PART_BYTES} bytes would pass it`);
    const length = Number(c.req.header("content-length"));
    if (!(length >= 1 && length <= CACHE_PART_BYTES)) {
      throw new ApiError(400, "part_size", `a part is 1 to ${CACHE_PART_BYTES} bytes (content-length; every part but the last exactly ${CACHE_PART_BYTES})`);
    }
    const part = await upload.uploadPart(partNumber, c.req.raw.body!);
    return c.json({ partNumber: part.partNumber, etag: part.etag }, 200);
  },
);

agentCacheUploadRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/cache-uploads/{uploadId}/complete`,
    operationId: "completeCacheUpload",
    summary: "Finish a multipart cache save: its size and SHA-256 are checked before the entry exists",
    security,
    request: { params: UploadParam, body: { required: true, content: { "application/json": { schema: CacheUploadComplete } } } },
    responses: { 201: json(CacheSaved, "Saved."), 200: json(CacheSaved, "Another job saved this key first; kept theirs."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId, uploadId } = c.req.valid("param");
    const body = c.req.valid("json");
    const { scope, ticket, r2Key, upload } = await resume(c.env, c.req.header("authorization"), jobAttemptId, uploadId);
    if (body.size > MAX_CACHE_ENTRY_BYTES) {
      await upload.abort().catch(() => undefined);
      throw tooLarge(`this one is ${body.size}; nothing was kept`);
    }
    // This very upload completed and indexed before (a retry whose answer was lost).
    const done = await c.env.DB.prepare("SELECT key, size FROM cache_entries WHERE id = ? AND project_id = ? AND queue = ?")
      .bind(ticket.k, scope.projectId, scope.queue)
      .first<{ key: string; size: number }>();
    if (done) return c.json({ key: done.key, size: done.size, created: true }, 201);
    const parts = body.parts.slice().sort((a, b) => a.partNumber - b.partNumber);
    let object: R2Object;
    try {
      object = await upload.complete(parts);
    } catch (error) {
      // Unequal parts, an unknown etag, an upload aborted or completed before: R2 says which.
      await upload.abort().catch(() => undefined);
      throw new ApiError(400, "invalid_parts", `the parts could not be put together (${String((error as Error).message ?? error).slice(0, 200)}); nothing was kept`);
    }
    const problem =
      object.size !== body.size
        ? `the parts add up to ${object.size} bytes, not the declared ${body.size}`
        : (await sha256OfObject(c.env.ARTIFACTS, r2Key)) !== body.sha256
          ? "the uploaded bytes do not match the declared sha256"
          : null;
    if (problem) {
      await c.env.ARTIFACTS.delete(r2Key);
      throw new ApiError(400, object.size !== body.size ? "size_mismatch" : "sha256_mismatch", `${problem}; nothing was kept`);
    }
    const saved = await indexCache(c.env, scope, { key: ticket.key, size: body.size, sha256: body.sha256 }, ticket.k, r2Key, Date.now());
    return c.json({ key: ticket.key, size: body.size, created: saved.created }, saved.created ? 201 : 200);
  },
);

agentCacheUploadRoutes.openapi(
  createRoute({
    method: "delete",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/cache-uploads/{uploadId}`,
    operationId: "abortCacheUpload",
    summary: "Abandon a multipart cache save: its parts are dropped, no entry is made",
    security,
    request: { params: UploadParam },
    responses: { 200: json(z.object({ aborted: z.boolean() }), "Aborted (or already gone)."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId, uploadId } = c.req.valid("param");
    const { upload } = await resume(c.env, c.req.header("authorization"), jobAttemptId, uploadId);
    // Already completed or aborted: R2 says so; either way nothing of this upload is left pending.
    const aborted = await upload.abort().then(
      () => true,
      () => false,
    );
    return c.json({ aborted }, 200);
  },
);
