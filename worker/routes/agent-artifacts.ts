/**
 * Artifact uploads from agents (job token). Bytes stream from the request straight into R2,
 * never whole in memory. Up to 95 MB: one PUT, which R2 checks against the agent's SHA-256.
 * Larger: a multipart upload in 64 MiB parts, whose whole-file SHA-256 is checked by streaming
 * the stored object once it is complete. Only then is the artifact recorded (in the RunObject,
 * which projects it into D1).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ArtifactView } from "../../domain/api.ts";
import { AGENT_API_BASE, ArtifactName, SHA256_HEX } from "../../domain/protocol.ts";
import { artifactKey } from "../../platform/artifacts.ts";
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
    const key = artifactKey(identity.runId, jobAttemptId, meta.name);
    try {
      await c.env.ARTIFACTS.put(key, c.req.raw.body, { sha256: meta.sha256, httpMetadata: { contentType: meta.contentType } });
    } catch (error) {
      if (/digest|checksum|sha-?256/i.test(String(error))) {
        throw new ApiError(400, "sha256_mismatch", "the uploaded bytes do not match the declared sha256; nothing was stored");
      }
      throw error;
    }
    return c.json(artifactView(unwrap(await run.recordArtifact(jobAttemptId, token, meta))), 201);
  },
);

/** The opaque upload id the agent carries between calls: R2's upload id and the declared file. */
interface UploadTicket {
  u: string;
  name: string;
  size: number;
  sha256: string;
  contentType: string;
}
const encodeTicket = (t: UploadTicket) => btoa(JSON.stringify(t)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
function decodeTicket(id: string): UploadTicket {
  try {
    const t = JSON.parse(atob(id.replace(/-/g, "+").replace(/_/g, "/"))) as UploadTicket;
    const meta = Meta.parse({ name: t.name, sha256: t.sha256, size: t.size, contentType: t.contentType });
    if (typeof t.u !== "string") throw new Error("no upload id");
    return { ...meta, u: t.u };
  } catch {
    throw new ApiError(404, "upload_not_found", "unknown upload id");
  }
}

async function multipart(env: Env, header: string | undefined, jobAttemptId: string, uploadId: string) {
  const { token, run } = jobRun(env, header, jobAttemptId);
  const identity = unwrap(await run.identifyJob(jobAttemptId, token));
  const ticket = decodeTicket(uploadId);
  // The key is derived from the job token's own run and job attempt: a ticket cannot reach elsewhere.
  const key = artifactKey(identity.runId, jobAttemptId, ticket.name);
  return { token, run, ticket, key, upload: env.ARTIFACTS.resumeMultipartUpload(key, ticket.u) };
}

agentArtifactRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/artifact-uploads`,
    operationId: "startArtifactUpload",
    summary: "Start a multipart upload of a large artifact",
    security,
    request: { params: JobParam, body: { required: true, content: { "application/json": { schema: Meta } } } },
    responses: { 201: json(z.object({ uploadId: z.string(), partSize: z.number().int() }), "Send parts of partSize bytes (the last may be smaller)."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId } = c.req.valid("param");
    const meta = c.req.valid("json");
    checkSize(meta.size);
    const { token, run } = jobRun(c.env, c.req.header("authorization"), jobAttemptId);
    const identity = unwrap(await run.identifyJob(jobAttemptId, token));
    const existing = unwrap(await run.artifactByName(jobAttemptId, token, meta.name));
    if (existing) throw new ApiError(409, "artifact_exists", `this job already uploaded '${meta.name}'`);
    const upload = await c.env.ARTIFACTS.createMultipartUpload(artifactKey(identity.runId, jobAttemptId, meta.name), {
      httpMetadata: { contentType: meta.contentType },
    });
    return c.json({ uploadId: encodeTicket({ u: upload.uploadId, ...meta }), partSize: MULTIPART_PART_BYTES }, 201);
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
    responses: { 200: json(z.object({ partNumber: z.number().int(), etag: z.string() }), "Stored."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId, uploadId, partNumber } = c.req.valid("param");
    const { upload, ticket } = await multipart(c.env, c.req.header("authorization"), jobAttemptId, uploadId);
    const length = Number(c.req.header("content-length"));
    const parts = Math.max(1, Math.ceil(ticket.size / MULTIPART_PART_BYTES));
    const expected = partNumber < parts ? MULTIPART_PART_BYTES : ticket.size - (parts - 1) * MULTIPART_PART_BYTES;
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
            schema: z.object({ parts: z.array(z.object({ partNumber: z.number().int().min(1), etag: z.string().min(1) })).min(1).max(10_000) }),
          },
        },
      },
    },
    responses: { 201: json(ArtifactView, "Stored and recorded."), ...errors },
  }),
  async (c) => {
    const { jobAttemptId, uploadId } = c.req.valid("param");
    const { token, run, ticket, key, upload } = await multipart(c.env, c.req.header("authorization"), jobAttemptId, uploadId);
    const parts = c.req.valid("json").parts.slice().sort((a, b) => a.partNumber - b.partNumber);
    const object = await upload.complete(parts);
    if (object.size !== ticket.size) {
      await c.env.ARTIFACTS.delete(key);
      throw new ApiError(400, "size_mismatch", `the parts add up to ${object.size} bytes, not the declared ${ticket.size}; nothing was kept`);
    }
    if ((await sha256OfObject(c.env.ARTIFACTS, key)) !== ticket.sha256) {
      await c.env.ARTIFACTS.delete(key);
      throw new ApiError(400, "sha256_mismatch", "the uploaded bytes do not match the declared sha256; nothing was kept");
    }
    const { u: _u, ...meta } = ticket;
    return c.json(artifactView(unwrap(await run.recordArtifact(jobAttemptId, token, meta))), 201);
  },
);
