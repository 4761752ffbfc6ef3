/**
 * The body of POST /api/v1/lineage as the official OpenLineage clients send it: JSON, gzip
 * compressed when they compress (`Content-Encoding: gzip`). The door's body limit
 * (MAX_JSON_BODY_BYTES) bounds the bytes on the wire; this bounds them after decompression,
 * reading the stream and stopping as soon as the limit is passed (a gzip bomb never inflates
 * in memory).
 */
import { ApiError } from "../http/errors.ts";

export const MAX_LINEAGE_EVENT_BYTES = 1024 * 1024;

export async function readLineageBody(request: Request, limit: number = MAX_LINEAGE_EVENT_BYTES): Promise<string> {
  const encoding = (request.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (encoding !== "identity" && encoding !== "gzip") {
    throw new ApiError(415, "unsupported_encoding", `Content-Encoding '${encoding}' is not accepted: send the event as is, or gzip-compressed (Content-Encoding: gzip)`);
  }
  if (!request.body) throw new ApiError(400, "empty_body", "the body must be one OpenLineage event (JSON)");
  const stream = encoding === "gzip" ? request.body.pipeThrough(new DecompressionStream("gzip")) : request.body;
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        throw new ApiError(413, "body_too_large", `an OpenLineage event may be at most ${limit} bytes${encoding === "gzip" ? " once decompressed" : ""}`);
      }
      parts.push(value);
    }
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError(400, "bad_gzip", `the body is not valid gzip (Content-Encoding: gzip): ${error instanceof Error ? error.message : String(error)}`);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ApiError(400, "invalid_json", "the body is not UTF-8 text");
  }
}
