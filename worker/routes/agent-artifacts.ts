/**
 * Artifact uploads from agents (job token). Bytes stream from the request straight into R2,
 * never whole in memory. Up to 95 MB: one PUT, which R2 checks against the agent's SHA-256.
 * Larger: a multipart upload in 64 MiB parts, whose whole-file SHA-256 is checked by streaming
 * the stored object once it is complete. Only then is the artifact recorded (in the RunObject,
 * which projects it into D1).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ArtifactView } from "../../domain/views.ts";
import { AGENT_API_BASE, ARTIFACT_PART_BYTES, ArtifactName, ArtifactPartAck, ArtifactUploadComplete, ArtifactUploadStart, SHA256_HEX } from "../../domain/protocol.ts";
import { uuidv7 } from "uuidv7";
import { artifactKey, type ArtifactRecord } from "../../platform/artifacts.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError, unwrap } from "../http/errors.ts";
import { MAX_ARTIFACT_BYTES } from "../../domain/limits.ts";
import { artifactView, MAX_SINGLE_UPLOAD_BYTES, MULTIPART_PART_BYTES, sha256OfObject } from "../services/artifacts.ts";
import { jobRun } from "./agent-api.ts";
import { errors, ID, json, router } from "./common.ts";

export const agentArtifactRoutes = router();

const security = [{ jobToken: [] }];
const CONTENT_TYPE = z
  .string()
  .regex(/^[\w.+-]+\/[\w.+-]+(;.*)?$/, "contentType is a MIME type like text/plain")
  .max(200)
  .default("application/octet-stream");
const Meta = z.object({
  name: ArtifactName,
  sha256: SHA256_HEX,
  size: z.coerce.number().int().min(0),
  contentType: CONTENT_TYPE,
});
/**
 * A multipart start: the SHA-256 may wait for the complete (an agent that hashes the parts as
 * they leave knows it only then), and a part size may be asked for (R2's bounds, whole MiB).
 */
const StartMeta = Meta.extend({
  sha256: SHA256_HEX.optional(),
  partSize: z
    .number()
    .int()
    .min(ARTIFACT_PART_BYTES.min)
    .max(ARTIFACT_PART_BYTES.max)
    .refine((n) => n % (1024 * 1024) === 0, "partSize is a whole number of MiB")
    .optional(),
});
const JobParam = z.object({ jobAttemptId: ID });

function checkSize(size: number): void {
  if (size > MAX_ARTIFACT_BYTES) {
    throw new ApiError(413, "artifact_too_large", `an artifact may be at most ${MAX_ARTIFACT_BYTES} bytes`);
  }
}

agentArtifactRoutes.openapi(
  createRoute({
    method: "put",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/artifacts`,
    operationId: "uploadArtifact",
    summary: "Upload an artifact of up to 95 MB in one request (bytes as the body)",
    security,
    request: {
      params: JobParam,
      query: Meta,
      body: { required: true, content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } },
    },
    responses: { 201: json(ArtifactView, "Stored and recorded."), 200: json(ArtifactView, "Already stored (a retried upload)."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId } = c.req.valid("param");
    const meta = c.req.valid("query");
    checkSize(meta.size);
    if (meta.size > MAX_SINGLE_UPLOAD_BYTES) {
      throw new ApiError(413, "use_multipart", `artifacts over ${MAX_SINGLE_UPLOAD_BYTES} bytes go through artifact-uploads (multipart)`);
    }
    if (Number(c.req.header("content-length")) !== meta.size) {
      throw new ApiError(400, "size_mismatch", "content-length must equal the declared size");
    }
    const { token, run } = jobRun(c.env, c.req.header("authorization"), jobAttemptId);
    const identity = unwrap(await run.identifyJob(jobAttemptId, token));
    const existing = unwrap(await run.artifactByName(jobAttemptId, token, meta.name));
    if (existing) {
      if (existing.sha256 !== meta.sha256) throw new ApiError(409, "artifact_exists", `this job already uploaded '${meta.name}' with other content`);
      return c.json(artifactView(existing), 200);
    }
    // This upload's own key: a racing upload of the same name writes elsewhere (platform/artifacts.ts).
    const uploadId = uuidv7();
    const key = artifactKey(identity.runId, jobAttemptId, uploadId, meta.name);
    try {
      await c.env.ARTIFACTS.put(key, c.req.raw.body, { sha256: meta.sha256, httpMetadata: { contentType: meta.contentType } });
    } catch (error) {
      if (/digest|checksum|sha-?256/i.test(String(error))) {
        throw new ApiError(400, "sha256_mismatch", "the uploaded bytes do not match the declared sha256; nothing was stored");
      }
      throw error;
    }
    const { record, created } = await recordOrDiscard(c.env, run, jobAttemptId, token, meta, uploadId, key);
    return c.json(artifactView(record), created ? 201 : 200);
  },
);

/**
 * Records an upload whose bytes are stored under its own `key`. When another upload of the same
 * name was recorded first, this one's bytes are deleted — only ever its own key — and the answer
 * is the first record (same bytes: a retry) or 409 (other bytes).
 */
async function recordOrDiscard(
  env: Env,
  run: ReturnType<typeof jobRun>["run"],
  jobAttemptId: string,
  token: string,
  meta: z.infer<typeof Meta>,
  uploadId: string,
  key: string,
): Promise<{ record: ArtifactRecord; created: boolean }> {
  const recorded = await run.recordArtifact(jobAttemptId, token, meta, uploadId);
  if (!recorded.ok || recorded.value.r2Key !== key) await env.ARTIFACTS.delete(key);
  const record = unwrap(recorded);
  return { record, created: record.r2Key === key };
}

/** The opaque upload id the agent carries between calls: R2's upload id and the declared file. */
interface UploadTicket {
  u: string;
  /** This upload's own id in its R2 key (artifactKey), chosen when it started. */
  k: string;
  /** The part size (absent from tickets issued before one could be asked for: 64 MiB). */
  p?: number;
  name: string;
  size: number;
  /** Absent when the agent gives it with the complete. */
  sha256?: string;
  contentType: string;
}
const encodeTicket = (t: UploadTicket) => btoa(JSON.stringify(t)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
function decodeTicket(id: string): UploadTicket {
  try {
    const t = JSON.parse(atob(id.replace(/-/g, "+").replace(/_/g, "/"))) as UploadTicket;
    const meta = StartMeta.parse({ name: t.name, sha256: t.sha256, size: t.size, contentType: t.contentType, partSize: t.p });
    if (typeof t.u !== "string") throw new Error("no upload id");
    const k = ID.parse(t.k);
    const { partSize, ...declared } = meta;
    return { ...declared, ...(partSize ? { p: partSize } : {}), u: t.u, k };
  } catch {
    throw new ApiError(404, "upload_not_found", "unknown upload id");
  }
}

async function multipart(env: Env, header: string | undefined, jobAttemptId: string, uploadId: string) {
  const { token, run } = jobRun(env, header, jobAttemptId);
  const identity = unwrap(await run.identifyJob(jobAttemptId, token));
  const ticket = decodeTicket(uploadId);
  // The key is derived from the job token's own run and job attempt: a ticket cannot reach elsewhere.
  // R2 ties its upload id to the key, so a ticket naming another upload's key cannot complete.
  const key = artifactKey(identity.runId, jobAttemptId, ticket.k, ticket.name);
  return { token, run, ticket, key, upload: env.ARTIFACTS.resumeMultipartUpload(key, ticket.u) };
}

agentArtifactRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/artifact-uploads`,
    operationId: "startArtifactUpload",
    summary: "Start a multipart upload of a large artifact",
    security,
    request: { params: JobParam, body: { required: true, content: { "application/json": { schema: StartMeta } } } },
    responses: { 201: json(ArtifactUploadStart, "Send parts of partSize bytes (the last may be smaller)."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId } = c.req.valid("param");
    const meta = c.req.valid("json");
    checkSize(meta.size);
    const { token, run } = jobRun(c.env, c.req.header("authorization"), jobAttemptId);
    const identity = unwrap(await run.identifyJob(jobAttemptId, token));
    const existing = unwrap(await run.artifactByName(jobAttemptId, token, meta.name));
    if (existing) throw new ApiError(409, "artifact_exists", `this job already uploaded '${meta.name}'`);
    const k = uuidv7();
    const upload = await c.env.ARTIFACTS.createMultipartUpload(artifactKey(identity.runId, jobAttemptId, k, meta.name), {
      httpMetadata: { contentType: meta.contentType },
    });
    const { partSize = MULTIPART_PART_BYTES, ...declared } = meta;
    return c.json({ uploadId: encodeTicket({ u: upload.uploadId, k, p: partSize, ...declared }), partSize }, 201);
  },
);

agentArtifactRoutes.openapi(
  createRoute({
    method: "put",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/artifact-uploads/{uploadId}/parts/{partNumber}`,
    operationId: "uploadArtifactPart",
    summary: "Upload one part (bytes as the body)",
    security,
    request: {
      params: JobParam.extend({ uploadId: z.string().min(1).max(4096), partNumber: z.coerce.number().int().min(1).max(10_000) }),
      body: { required: true, content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } },
    },
    responses: { 200: json(ArtifactPartAck, "Stored."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId, uploadId, partNumber } = c.req.valid("param");
    const { upload, ticket } = await multipart(c.env, c.req.header("authorization"), jobAttemptId, uploadId);
    const length = Number(c.req.header("content-length"));
    const partBytes = ticket.p ?? MULTIPART_PART_BYTES;
    const parts = Math.max(1, Math.ceil(ticket.size / partBytes));
    const expected = partNumber < parts ? partBytes : ticket.size - (parts - 1) * partBytes;
    if (partNumber > parts) throw new ApiError(400, "part_out_of_range", `this upload has ${parts} parts`);
    if (length !== expected) throw new ApiError(400, "part_size", `part ${partNumber} must be ${expected} bytes (content-length)`);
    const part = await upload.uploadPart(partNumber, c.req.raw.body!);
    return c.json({ partNumber: part.partNumber, etag: part.etag }, 200);
  },
);

agentArtifactRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/artifact-uploads/{uploadId}/complete`,
    operationId: "completeArtifactUpload",
    summary: "Finish a multipart upload; the whole file's SHA-256 is checked before it is recorded",
    security,
    request: {
      params: JobParam.extend({ uploadId: z.string().min(1).max(4096) }),
      body: {
        required: true,
        content: {
          "application/json": {
            schema: ArtifactUploadComplete,
          },
        },
      },
    },
    responses: { 201: json(ArtifactView, "Stored and recorded."), 200: json(ArtifactView, "The same bytes were recorded by another upload of this name."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId, uploadId } = c.req.valid("param");
    const { token, run, ticket, key, upload } = await multipart(c.env, c.req.header("authorization"), jobAttemptId, uploadId);
    const body = c.req.valid("json");
    const parts = body.parts.slice().sort((a, b) => a.partNumber - b.partNumber);
    const sha256 = ticket.sha256 ?? body.sha256;
    if (!sha256) throw new ApiError(400, "sha256_required", "this upload did not declare its sha256 when it started: give it with the complete");
    if (ticket.sha256 && body.sha256 && body.sha256 !== ticket.sha256) {
      throw new ApiError(400, "sha256_mismatch", "the complete's sha256 is not the one this upload started with");
    }
    // Recorded meanwhile by another upload: this one stops here (its key is its own, so the
    // first upload's bytes are untouched either way).
    const recorded = unwrap(await run.artifactByName(jobAttemptId, token, ticket.name));
    // This very upload, completed and recorded before (a retry whose answer was lost).
    if (recorded?.r2Key === key) return c.json(artifactView(recorded), 200);
    if (recorded) {
      await upload.abort().catch(() => undefined);
      throw new ApiError(409, "artifact_exists", `this job already uploaded '${ticket.name}'`);
    }
    const object = await upload.complete(parts);
    if (object.size !== ticket.size) {
      await c.env.ARTIFACTS.delete(key);
      throw new ApiError(400, "size_mismatch", `the parts add up to ${object.size} bytes, not the declared ${ticket.size}; nothing was kept`);
    }
    if ((await sha256OfObject(c.env.ARTIFACTS, key)) !== sha256) {
      await c.env.ARTIFACTS.delete(key);
      throw new ApiError(400, "sha256_mismatch", "the uploaded bytes do not match the declared sha256; nothing was kept");
    }
    const { u: _u, k, p: _p, ...meta } = ticket;
    const { record, created } = await recordOrDiscard(c.env, run, jobAttemptId, token, { ...meta, sha256 }, k, key);
    return c.json(artifactView(record), created ? 201 : 200);
  },
);
