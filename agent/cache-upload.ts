/**
 * Sends one cache archive as it leaves the compressor (docs/agent.md "Caches"): its size is
 * known only at the end, so the stream is cut into parts of `CACHE_PART_BYTES` as it comes. An
 * archive that fits in one part goes up in one `PUT …/cache`; a larger one as an R2 multipart
 * upload, two parts in flight (like artifacts) while the next one fills — at most three parts in
 * memory, never the whole archive, and no temp file.
 *
 * Anything that stops the save half way (the job cancelled, a part refused, the archive past
 * the entry limit) aborts the multipart upload: no entry exists until it is completed.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { CACHE_PART_BYTES, type CacheFormat, type CacheSaved, MAX_CACHE_ENTRY_BYTES } from "../domain/caches.ts";
import { PARTS_IN_FLIGHT } from "./artifacts.ts";
import type { JobApi } from "./protocol-client.ts";

type CacheUploadApi = Pick<JobApi, "putCache" | "startCacheUpload" | "putCachePart" | "completeCacheUpload" | "abortCacheUpload">;

/** The archive passed the entry limit (compressed): it is not saved. */
export class CacheTooLargeError extends Error {
  override readonly name = "CacheTooLargeError";
  readonly limit: number;
  constructor(limit: number) {
    super(`more than ${(limit / 1024 ** 2).toFixed(0)} MiB compressed, the limit of one cache entry`);
    this.limit = limit;
  }
}

/** `source` cut into buffers of exactly `partSize` bytes, the last one shorter. */
export async function* partsOf(source: AsyncIterable<Buffer>, partSize: number): AsyncGenerator<Buffer> {
  let part = Buffer.allocUnsafe(partSize);
  let filled = 0;
  for await (const chunk of source) {
    for (let offset = 0; offset < chunk.length; ) {
      const n = Math.min(partSize - filled, chunk.length - offset);
      chunk.copy(part, filled, offset, offset + n);
      filled += n;
      offset += n;
      if (filled === partSize) {
        yield part;
        part = Buffer.allocUnsafe(partSize);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield part.subarray(0, filled);
}

export interface CacheUploadOptions {
  signal: AbortSignal;
  /** How `source` is compressed. */
  format: CacheFormat;
  /** Tests send smaller parts; the server takes parts of at most CACHE_PART_BYTES. */
  partSize?: number;
  maxBytes?: number;
}

/** Uploads the archive `source` yields as the entry `key`: its size and SHA-256, and whether it was new. */
export async function uploadCacheArchive(
  api: CacheUploadApi,
  key: string,
  source: AsyncIterable<Buffer>,
  options: CacheUploadOptions,
): Promise<CacheSaved & { sha256: string }> {
  const partSize = options.partSize ?? CACHE_PART_BYTES;
  const maxBytes = options.maxBytes ?? MAX_CACHE_ENTRY_BYTES;
  const hash = createHash("sha256");
  let size = 0;
  const counted = async function* () {
    for await (const chunk of source) {
      size += chunk.length;
      if (size > maxBytes) throw new CacheTooLargeError(maxBytes);
      hash.update(chunk);
      yield chunk;
    }
  };
  const parts = partsOf(counted(), partSize);
  const first = await parts.next();
  const second = first.done ? first : await parts.next();
  if (first.done) throw new Error("the archive is empty");
  if (second.done) {
    const sha256 = hash.digest("hex");
    const saved = await api.putCache({ key, size, sha256, format: options.format }, () => Readable.from([first.value]), options.signal);
    return { ...saved, sha256 };
  }

  const { uploadId, partSize: serverPartSize } = await api.startCacheUpload(key, options.format, options.signal);
  try {
    if (serverPartSize !== partSize) throw new Error(`the server takes parts of ${serverPartSize} bytes, this agent cuts ${partSize}`);
    // The first part that fails stops the others; its error is the save's.
    const failed = new AbortController();
    const signal = AbortSignal.any([options.signal, failed.signal]);
    const etags: { partNumber: number; etag: string }[] = [];
    const inFlight = new Set<Promise<void>>();
    let partNumber = 0;
    const send = async (bytes: Buffer) => {
      while (inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(inFlight);
      if (failed.signal.aborted) throw failed.signal.reason;
      const n = ++partNumber;
      const sending: Promise<void> = api.putCachePart(uploadId, n, bytes, signal).then(
        (etag) => {
          etags.push({ partNumber: n, etag });
        },
        (error: unknown) => failed.abort(error),
      );
      const tracked = sending.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    };
    await send(first.value);
    await send(second.value);
    for (let next = await parts.next(); !next.done; next = await parts.next()) await send(next.value);
    await Promise.all(inFlight);
    if (failed.signal.aborted) throw failed.signal.reason;
    const sha256 = hash.digest("hex");
    const saved = await api.completeCacheUpload(uploadId, { parts: etags.sort((a, b) => a.partNumber - b.partNumber), size, sha256 }, options.signal);
    return { ...saved, sha256 };
  } catch (error) {
    // The parts sent so far are dropped; if this call fails too, R2 expires the upload on its own.
    await api.abortCacheUpload(uploadId).catch(() => undefined);
    throw error;
  }
}
