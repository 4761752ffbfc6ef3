/**
 * The job's `artifacts`: globs relative to the job's work dir (a `!` prefix excludes, a
 * matched directory brings every file under it), each file hashed (SHA-256, streamed) and
 * uploaded streamed from disk — one PUT up to 95 MB, a multipart upload above that. A pattern
 * that matches nothing, or a file refused by the server, is a warning in the job log.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { ArtifactName } from "../domain/protocol.ts";
import { ItemRefusedError, type JobApi } from "./api.ts";
import { glob } from "./glob.ts";

/** Above this size a file goes up in parts (a Worker's request body is limited to 100 MB). */
export const SINGLE_PUT_MAX_BYTES = 95 * 1000 * 1000;
/** Parts of a multipart upload sent at once. */
export const PARTS_IN_FLIGHT = 2;

export interface ArtifactFile {
  /** Relative to the work dir, with `/` separators. */
  name: string;
  path: string;
  size: number;
}

export interface Expansion {
  files: ArtifactFile[];
  warnings: string[];
}

export async function expandArtifacts(patterns: readonly string[], cwd: string): Promise<Expansion> {
  const warnings: string[] = [];
  const include = patterns.filter((p) => !p.startsWith("!") && p.trim() !== "");
  const exclude = patterns.filter((p) => p.startsWith("!")).map((p) => p.slice(1));

  const excluded = new Set<string>();
  for (const pattern of exclude) for await (const m of glob(pattern, { cwd })) excluded.add(toName(m));

  const found = new Map<string, ArtifactFile>();
  const addFile = (name: string, size: number) => {
    if (excluded.has(name) || found.has(name)) return;
    const valid = ArtifactName.safeParse(name);
    if (!valid.success) {
      warnings.push(`artifact "${name}" skipped: ${valid.error.issues[0]?.message ?? "invalid name"}`);
      return;
    }
    found.set(name, { name, path: path.join(cwd, name), size });
  };
  for (const pattern of include) {
    let matched = 0;
    for await (const m of glob(pattern, { cwd })) {
      const name = toName(m);
      const st = await stat(path.join(cwd, m)).catch(() => undefined);
      if (!st) continue;
      if (st.isFile()) {
        matched += 1;
        addFile(name, st.size);
      } else if (st.isDirectory()) {
        for await (const inner of glob(`${escapeGlob(m)}/**`, { cwd })) {
          const innerName = toName(inner);
          const ist = await stat(path.join(cwd, inner)).catch(() => undefined);
          if (ist?.isFile()) {
            matched += 1;
            addFile(innerName, ist.size);
          }
        }
      }
    }
    if (matched === 0) warnings.push(`no files match the artifact pattern "${pattern}"`);
  }
  return { files: [...found.values()].sort((a, b) => a.name.localeCompare(b.name)), warnings };
}

function toName(p: string): string {
  return p.split(path.sep).join("/");
}

function escapeGlob(p: string): string {
  return p.replace(/[*?[\]{}()!]/g, "\\$&");
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(file), hash);
  return hash.digest("hex");
}

const CONTENT_TYPES: Record<string, string> = {
  ".txt": "text/plain; charset=utf-8",
  ".log": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".htm": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".xml": "application/xml",
  ".csv": "text/csv; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".pdf": "application/pdf",
  ".zip": "application/zip",
  ".gz": "application/gzip",
  ".tgz": "application/gzip",
  ".tar": "application/x-tar",
  ".wasm": "application/wasm",
};

export function contentTypeFor(name: string): string {
  return CONTENT_TYPES[path.extname(name).toLowerCase()] ?? "application/octet-stream";
}

export interface UploadOptions {
  api: JobApi;
  signal: AbortSignal;
  maxBytes: number;
  singlePutMaxBytes?: number;
}

/** Uploads one file. Throws ItemRefusedError when the server refuses this file. */
export async function uploadArtifact(file: ArtifactFile, options: UploadOptions): Promise<{ sha256: string }> {
  const sha256 = await sha256File(file.path);
  // The size that was hashed: measured again, the file may have changed since the glob.
  const size = (await stat(file.path)).size;
  if (size > options.maxBytes) {
    throw new ItemRefusedError(`${size} bytes is over the ${options.maxBytes}-byte artifact limit`, 413);
  }
  const meta = { name: file.name, sha256, size, contentType: contentTypeFor(file.name) };
  const threshold = options.singlePutMaxBytes ?? SINGLE_PUT_MAX_BYTES;
  if (size <= threshold) {
    await options.api.putArtifact(meta, () => createReadStream(file.path), options.signal);
    return { sha256 };
  }
  const { uploadId, partSize } = await options.api.startUpload(meta, options.signal);
  const count = Math.ceil(size / partSize);
  const parts: { partNumber: number; etag: string }[] = new Array(count);
  // Parts go up a few at a time: while one waits on the server's storage another is sending.
  // The first part that fails stops the others (its error is the upload's).
  const failed = new AbortController();
  const signal = AbortSignal.any([options.signal, failed.signal]);
  let next = 0;
  const sender = async () => {
    while (next < count) {
      const index = next++;
      const from = index * partSize;
      const length = Math.min(partSize, size - from);
      const etag = await options.api.putPart(
        uploadId,
        index + 1,
        length,
        () => createReadStream(file.path, { start: from, end: from + length - 1 }),
        signal,
      );
      parts[index] = { partNumber: index + 1, etag };
    }
  };
  // The first failure is kept as the reason, not the aborts it then causes in the other senders.
  await Promise.all(Array.from({ length: Math.min(PARTS_IN_FLIGHT, count) }, () => sender().catch((error: unknown) => failed.abort(error))));
  if (failed.signal.aborted) throw failed.signal.reason;
  await options.api.completeUpload(uploadId, parts, options.signal);
  return { sha256 };
}

export interface UploadReport {
  uploaded: number;
  /** Files matched but not uploaded (refused by the server, unreadable). */
  failed: number;
  warnings: string[];
}

/** Expands and uploads every artifact; refusals and empty patterns become warnings. */
export async function uploadArtifacts(
  patterns: readonly string[],
  cwd: string,
  options: UploadOptions & { note: (line: string) => void },
): Promise<UploadReport> {
  const { files, warnings } = await expandArtifacts(patterns, cwd);
  for (const w of warnings) options.note(`warning: ${w}`);
  let uploaded = 0;
  let failed = 0;
  for (const file of files) {
    options.signal.throwIfAborted();
    try {
      const { sha256 } = await uploadArtifact(file, options);
      uploaded += 1;
      options.note(`uploaded artifact ${file.name} (${file.size} bytes, sha256 ${sha256.slice(0, 12)}…)`);
    } catch (err) {
      const local = typeof (err as NodeJS.ErrnoException).syscall === "string";
      if (!(err instanceof ItemRefusedError) && !local) throw err;
      failed += 1;
      const w = `artifact ${file.name} not uploaded: ${(err as Error).message}`;
      warnings.push(w);
      options.note(`warning: ${w}`);
    }
  }
  return { uploaded, failed, warnings };
}
