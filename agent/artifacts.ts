/**
 * The job's `artifacts`: globs relative to the job's work dir (a `!` prefix excludes, a
 * matched directory brings every file under it), each file hashed (SHA-256) and uploaded. A
 * pattern that matches nothing, or a file refused by the server, is a warning in the job log.
 *
 * With a server that takes the SHA-256 at a multipart upload's end (`hashAsSent`, protocol 2),
 * a file is read once: up to 16 MiB whole into memory, hashed and sent in one PUT; above that in
 * 8 MiB parts, each hashed as it is read and sent from the same bytes, 2 at once at first and
 * more while the throughput grows, as many as 48 MiB of parts hold (their buffers reused from
 * part to part, so that the agent's memory is that budget). Otherwise it is hashed (streamed),
 * then streamed up: one PUT up to 95 MB, 64 MiB parts two at a time above that.
 *
 * Symbolic links: a match is resolved (every link on its path) before anything is read. What
 * resolves inside the job's work dir is followed (uploaded under the name it was matched by);
 * what resolves outside it — `dist/x -> ~/.ssh/id_rsa`, or a directory linked to `/etc` — is
 * not uploaded: a warning names it in the job log and it counts as a failed artifact (the job
 * ends WARNING). The file is resolved again just before it is read, so a link swapped in after
 * the glob is refused too; a process of the job still running could in principle swap one in
 * between that check and the open — steps can read anything the agent's user can anyway, this
 * is against uploading what the repository points at, not a sandbox.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, realpath, stat, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ArtifactName } from "../domain/protocol.ts";
import { ItemRefusedError, type JobApi } from "./protocol-client.ts";
import { glob } from "./glob.ts";

/** Above this size a file goes up in parts (a Worker's request body is limited to 100 MB). */
export const SINGLE_PUT_MAX_BYTES = 95 * 1000 * 1000;
/** Parts of a multipart upload sent at once: at first, and at most (hashAsSent: grown with the throughput). */
export const PARTS_IN_FLIGHT = 2;
export const MAX_PARTS_IN_FLIGHT = 8;
/** hashAsSent: up to this size a file is read whole, hashed and sent in one PUT. */
export const ONE_READ_PUT_MAX_BYTES = 16 * 1024 * 1024;
/** hashAsSent: the part size asked for (the server's answer is the one used). */
export const HASHED_PART_BYTES = 8 * 1024 * 1024;
/**
 * hashAsSent: bytes of parts held in memory at once, whatever the part size the server answered —
 * what keeps an uploading agent within its memory target (≤ 150 MiB RSS, bench/artifacts.ts):
 * 6 parts of 8 MiB; one part when a part alone is larger.
 */
export const BYTES_IN_FLIGHT_MAX = 48 * 1024 * 1024;

export interface ArtifactFile {
  /** Relative to the work dir, with `/` separators (the name it was matched by). */
  name: string;
  /** The file itself: every symbolic link on the way resolved, inside the work dir. */
  path: string;
  size: number;
  /** The work dir (resolved) the file must still resolve inside when it is read. */
  within?: string;
}

export interface Expansion {
  files: ArtifactFile[];
  /** Matches not uploaded because they resolve outside the work dir (named in `warnings`). */
  refused: string[];
  warnings: string[];
}

export const OUTSIDE_WORK_DIR = "it is a symbolic link (or lies under one) that resolves outside the job's work dir";

/** A file that resolves outside the job's work dir. */
export class OutsideWorkDirError extends Error {}

/** The file changed size while it was read (a step still writing it): not uploaded. */
export class FileChangedError extends Error {}

export async function expandArtifacts(patterns: readonly string[], cwd: string): Promise<Expansion> {
  const warnings: string[] = [];
  const refused = new Set<string>();
  const include = patterns.filter((p) => !p.startsWith("!") && p.trim() !== "");
  const exclude = patterns.filter((p) => p.startsWith("!")).map((p) => p.slice(1));
  const root = await realpath(cwd);

  const excluded = new Set<string>();
  for (const pattern of exclude) for await (const m of glob(pattern, { cwd })) excluded.add(toName(m));

  const found = new Map<string, ArtifactFile>();
  const addFile = (name: string, real: string, size: number) => {
    if (found.has(name)) return;
    const valid = ArtifactName.safeParse(name);
    if (!valid.success) {
      warnings.push(`artifact "${name}" skipped: ${valid.error.issues[0]?.message ?? "invalid name"}`);
      return;
    }
    found.set(name, { name, path: real, size, within: root });
  };
  /** The match, resolved; undefined (and refused, once) when it resolves outside the work dir. */
  const resolve = async (m: string): Promise<{ name: string; real: string } | undefined> => {
    const name = toName(m);
    if (excluded.has(name)) return undefined;
    const real = await realpath(path.join(cwd, m)).catch(() => undefined); // a dangling link: nothing
    if (real === undefined) return undefined;
    if (!isInside(root, real)) {
      if (!refused.has(name)) warnings.push(`artifact "${name}" not uploaded: ${OUTSIDE_WORK_DIR}`);
      refused.add(name);
      return undefined;
    }
    return { name, real };
  };
  for (const pattern of include) {
    let matched = 0;
    for await (const m of glob(pattern, { cwd })) {
      const before = refused.size;
      const hit = await resolve(m);
      if (refused.size > before) matched += 1;
      if (!hit) continue;
      const st = await stat(hit.real).catch(() => undefined);
      if (st?.isFile()) {
        matched += 1;
        addFile(hit.name, hit.real, st.size);
      } else if (st?.isDirectory()) {
        // A directory inside the work dir (perhaps through a link inside it): each file under
        // it is resolved on its own, as links under it may point anywhere.
        for await (const inner of glob(`${escapeGlob(m)}/**`, { cwd })) {
          const beforeInner = refused.size;
          const innerHit = await resolve(inner);
          if (refused.size > beforeInner) matched += 1;
          if (!innerHit) continue;
          const ist = await stat(innerHit.real).catch(() => undefined);
          if (ist?.isFile()) {
            matched += 1;
            addFile(innerHit.name, innerHit.real, ist.size);
          }
        }
      }
    }
    if (matched === 0) warnings.push(`no files match the artifact pattern "${pattern}"`);
  }
  return { files: [...found.values()].sort((a, b) => a.name.localeCompare(b.name)), refused: [...refused].sort(), warnings };
}

function isInside(root: string, real: string): boolean {
  return real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
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
  /** The server takes the SHA-256 at a multipart upload's end (protocol 2): read each file once. */
  hashAsSent?: boolean;
}

/** Uploads one file. Throws ItemRefusedError when the server refuses this file. */
export async function uploadArtifact(file: ArtifactFile, options: UploadOptions): Promise<{ sha256: string }> {
  // Resolved again: a link put on its way since the glob must not lead out either.
  if (file.within !== undefined && !isInside(file.within, await realpath(file.path))) throw new OutsideWorkDirError(OUTSIDE_WORK_DIR);
  if (options.hashAsSent) {
    const handle = await open(file.path);
    try {
      return await uploadReadOnce(file, handle, options);
    } finally {
      await handle.close();
    }
  }
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

/**
 * One read of the file: every byte read is hashed and sent from the same buffer, so what is
 * hashed is what is sent even if a step still writes the file (a change of size refuses it).
 */
async function uploadReadOnce(file: ArtifactFile, handle: FileHandle, options: UploadOptions): Promise<{ sha256: string }> {
  const size = (await handle.stat()).size;
  if (size > options.maxBytes) throw new ItemRefusedError(`${size} bytes is over the ${options.maxBytes}-byte artifact limit`, 413);
  const hash = createHash("sha256");
  const contentType = contentTypeFor(file.name);
  if (size <= Math.min(ONE_READ_PUT_MAX_BYTES, options.singlePutMaxBytes ?? SINGLE_PUT_MAX_BYTES)) {
    const bytes = await readExactly(handle, 0, size);
    const sha256 = hash.update(bytes).digest("hex");
    await options.api.putArtifact({ name: file.name, sha256, size, contentType }, () => Readable.from(bytes), options.signal);
    return { sha256 };
  }
  const { uploadId, partSize } = await options.api.startUpload({ name: file.name, size, contentType, partSize: HASHED_PART_BYTES }, options.signal);
  const count = Math.ceil(size / partSize);
  const parts: { partNumber: number; etag: string }[] = [];
  const failed = new AbortController();
  const signal = AbortSignal.any([options.signal, failed.signal]);
  const window = new PartWindow(Math.max(1, Math.min(MAX_PARTS_IN_FLIGHT, Math.floor(BYTES_IN_FLIGHT_MAX / partSize))));
  // A stored part's buffer holds the next part: fresh 8 MiB buffers would each wait for the
  // garbage collector, and the agent's memory would grow past the parts in flight. A buffer is
  // reused only once its part is stored (the server has read all of it); a failed part's is not.
  const free: Buffer[] = [];
  const sending = new Set<Promise<void>>();
  for (let index = 0; index < count && !signal.aborted; index++) {
    while (sending.size >= window.size) await Promise.race(sending);
    if (signal.aborted) break;
    const from = index * partSize;
    const buffer = free.pop() ?? Buffer.allocUnsafe(partSize);
    const bytes = await readExactly(handle, from, Math.min(partSize, size - from), buffer);
    hash.update(bytes);
    const sent: Promise<void> = options.api
      .putPart(uploadId, index + 1, bytes.length, () => Readable.from(bytes), signal)
      .then((etag) => {
        parts.push({ partNumber: index + 1, etag });
        window.partDone(bytes.length);
        free.push(buffer);
      })
      // The first failure is the upload's reason, not the aborts it causes in the other parts.
      .catch((error: unknown) => failed.abort(error))
      .finally(() => sending.delete(sent));
    sending.add(sent);
  }
  await Promise.all(sending);
  if (failed.signal.aborted) throw failed.signal.reason;
  options.signal.throwIfAborted();
  const sha256 = hash.digest("hex");
  await options.api.completeUpload(uploadId, parts.sort((a, b) => a.partNumber - b.partNumber), options.signal, sha256);
  return { sha256 };
}

/** Reads `length` bytes at `position`, into `into` (its first `length` bytes) when given. */
async function readExactly(handle: FileHandle, position: number, length: number, into?: Buffer): Promise<Buffer> {
  const bytes = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(bytes, filled, length - filled, position + filled);
    if (bytesRead === 0) throw new FileChangedError(`the file shrank while it was read (${position + filled} of ${position + length} bytes)`);
    filled += bytesRead;
  }
  return bytes;
}

/**
 * How many parts go at once, sized to the link: 2 at first (fewer if `max` is), one more each
 * time a part's end shows the upload's throughput grew by a tenth over the best so far, up to
 * `max` (8, or what the bytes in flight allow).
 */
export class PartWindow {
  size: number;
  private bytes = 0;
  private best = 0;
  private readonly started = performance.now();
  private readonly max: number;

  constructor(max: number = MAX_PARTS_IN_FLIGHT) {
    this.max = max;
    this.size = Math.min(PARTS_IN_FLIGHT, max);
  }

  /** A part of `bytes` was stored. */
  partDone(bytes: number): void {
    this.bytes += bytes;
    const rate = this.bytes / Math.max(1, performance.now() - this.started);
    if (rate > this.best * 1.1 && this.size < this.max) this.size += 1;
    this.best = Math.max(this.best, rate);
  }
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
  const { files, refused, warnings } = await expandArtifacts(patterns, cwd);
  for (const w of warnings) options.note(`warning: ${w}`);
  let uploaded = 0;
  let failed = refused.length;
  for (const file of files) {
    options.signal.throwIfAborted();
    try {
      const { sha256 } = await uploadArtifact(file, options);
      uploaded += 1;
      options.note(`uploaded artifact ${file.name} (${file.size} bytes, sha256 ${sha256.slice(0, 12)}…)`);
    } catch (err) {
      const local = typeof (err as NodeJS.ErrnoException).syscall === "string";
      if (!(err instanceof ItemRefusedError) && !(err instanceof OutsideWorkDirError) && !(err instanceof FileChangedError) && !local) throw err;
      failed += 1;
      const w = `artifact ${file.name} not uploaded: ${(err as Error).message}`;
      warnings.push(w);
      options.note(`warning: ${w}`);
    }
  }
  return { uploaded, failed, warnings };
}
