/**
 * A job's `cache:` entries on the agent (docs/agent.md "Caches"): the key's `hashFiles(...)`,
 * the restore before the first step and the save after a successful job.
 *
 * Restore: the server picks the entry (exact key, else the newest under a restore key); its
 * compressed tar is streamed from the answer through zstd or gunzip (by its first bytes) into a
 * fresh temp dir, and only once the whole archive is extracted and its SHA-256 checked are its
 * files moved into the work dir. An interrupted or corrupt download leaves the work dir as it
 * was (and the temp dir is removed).
 *
 * Save: the paths are archived (tar, then zstd or gzip: SAVE_FORMAT) and uploaded as it leaves the
 * compressor, in parts (agent/cache-upload.ts) — never whole in memory, no temp file; the server
 * keeps it per project and queue once its size and SHA-256 check out.
 *
 * A cache is an optimisation: every failure is a warning in the job log, never a failed job.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { type CacheFormat, type CacheSaved, cacheKeyProblem, type JobCache, renderHashFiles } from "../domain/caches.ts";
import { uploadCacheArchive } from "./cache-upload.ts";
import type { JobApi } from "./protocol-client.ts";
import { glob } from "./glob.ts";
import { extractTar, type TarSource, writeTar } from "./tar.ts";

/** SHA-256 (hex) over the contents of every file the globs match, in name order; "" when none does. */
export async function hashFiles(globs: readonly string[], cwd: string): Promise<string> {
  const files = new Set<string>();
  for (const pattern of globs) {
    for await (const match of glob(pattern, { cwd })) {
      const st = await stat(path.join(cwd, match)).catch(() => undefined);
      if (st?.isFile()) files.add(match);
    }
  }
  if (files.size === 0) return "";
  const hash = createHash("sha256");
  for (const file of [...files].sort()) {
    for await (const chunk of createReadStream(path.join(cwd, file))) hash.update(chunk as Buffer);
  }
  return hash.digest("hex");
}

export interface CacheIo {
  api: JobApi;
  workspace: string;
  /** The job's temp dir (same file system as the work dir: restores end with a rename). */
  tmpDir: string;
  signal: AbortSignal;
  note: (line: string) => void;
}

/** A cache whose key is rendered, and whether the restore found that exact key. */
export interface PreparedCache extends JobCache {
  exactHit: boolean;
}

/** zstd where this Node has it (22.15 / 23.8 and later), else gzip (domain/caches.ts CACHE_FORMATS). */
export const SAVE_FORMAT: CacheFormat = typeof zlib.createZstdCompress === "function" ? "zstd" : "gzip";
/** zstd's and gzip's defaults: most of their best ratio at a fraction of its time. */
const ZSTD_LEVEL = 3;
const GZIP_LEVEL = 6;

export function compressor(format: CacheFormat) {
  return format === "zstd" ? zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } }) : zlib.createGzip({ level: GZIP_LEVEL });
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** The tar inside an archive, zstd or gzip by its first bytes (an entry's format is not asked: it is read). */
async function* decompressed(archive: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const chunks = archive[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < ZSTD_MAGIC.length && !ended) {
    const next = await chunks.next();
    if (next.done) ended = true;
    else head = Buffer.concat([head, next.value]);
  }
  const zstd = head.subarray(0, ZSTD_MAGIC.length).equals(ZSTD_MAGIC);
  if (zstd && typeof zlib.createZstdDecompress !== "function") {
    throw new Error(`the entry is compressed with zstd, which this agent's Node ${process.version} cannot read (Node 22.15 or later can)`);
  }
  const rest = async function* () {
    yield head;
    for (let next = ended ? undefined : await chunks.next(); next && !next.done; next = await chunks.next()) yield next.value;
  };
  const source = Readable.from(rest());
  const inflate = zstd ? zlib.createZstdDecompress() : zlib.createGunzip();
  source.on("error", (error) => inflate.destroy(error));
  try {
    yield* source.pipe(inflate);
  } finally {
    source.destroy();
    inflate.destroy();
  }
}
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const secs = (from: number) => `${((Date.now() - from) / 1000).toFixed(2)} s`;

/** Renders each key's hashFiles(...) and restores what the server has; answers what to save later. */
export async function restoreCaches(caches: readonly JobCache[], io: CacheIo): Promise<PreparedCache[]> {
  const prepared: PreparedCache[] = [];
  for (const [index, cache] of caches.entries()) {
    const started = Date.now();
    const key = await renderHashFiles(cache.key, (globs) => hashFiles(globs, io.workspace));
    const problem = cacheKeyProblem(key);
    if (problem) {
      io.note(`warning: cache "${key}" not used: ${problem}`);
      continue;
    }
    const entry: PreparedCache = { ...cache, key, exactHit: false };
    prepared.push(entry);
    try {
      const found = await io.api.lookupCache(key, cache.restoreKeys, io.signal);
      if (found.hit === "miss" || !found.entry) {
        io.note(`cache miss: ${key}`);
        continue;
      }
      const staging = path.join(io.tmpDir, `cache-restore-${index}`);
      await rm(staging, { recursive: true, force: true });
      await mkdir(staging, { recursive: true });
      try {
        const body = await io.api.downloadCache(found.entry, io.signal);
        const hash = createHash("sha256");
        await pipeline(
          body,
          async function* (chunks: AsyncIterable<Buffer>) {
            for await (const chunk of chunks) {
              hash.update(chunk);
              yield chunk;
            }
          },
          decompressed,
          async (tar: AsyncIterable<Buffer>) => {
            await extractTar(tar, staging);
            // Read to the end: the checksum covers every byte, the gzip trailer too.
            for await (const _ of tar);
          },
          { signal: io.signal },
        );
        const sha256 = hash.digest("hex");
        if (found.sha256 && sha256 !== found.sha256) throw new Error(`the download does not match the entry's sha256 (${sha256}, not ${found.sha256})`);
        await moveInto(staging, io.workspace);
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      entry.exactHit = found.hit === "exact";
      const what = found.hit === "exact" ? "cache hit" : `cache partial hit (restore key matched ${found.key})`;
      io.note(`${what}: ${key}, ${mib(found.size ?? 0)} restored in ${secs(started)}`);
    } catch (err) {
      if (io.signal.aborted) throw err;
      io.note(`warning: cache ${key} not restored: ${(err as Error).message}`);
    }
  }
  return prepared;
}

/** Moves what was extracted into the work dir: directories merge, anything else replaces. */
async function moveInto(from: string, to: string): Promise<void> {
  for (const name of await readdir(from)) {
    const source = path.join(from, name);
    const target = path.join(to, name);
    const [s, t] = await Promise.all([lstat(source), lstat(target).catch(() => undefined)]);
    if (s.isDirectory() && t?.isDirectory()) {
      await moveInto(source, target);
      continue;
    }
    if (t) await rm(target, { recursive: true, force: true });
    await rename(source, target);
  }
}

/** Saves the caches whose key was not an exact hit (after a successful job). */
export async function saveCaches(caches: readonly PreparedCache[], io: CacheIo): Promise<void> {
  for (const cache of caches) {
    if (cache.exactHit) {
      io.note(`cache ${cache.key}: exact hit, not saved again`);
      continue;
    }
    const started = Date.now();
    try {
      const sources: TarSource[] = [];
      for (const pattern of cache.paths) {
        for await (const match of glob(pattern, { cwd: io.workspace })) sources.push({ name: match, path: path.join(io.workspace, match) });
      }
      if (sources.length === 0) {
        io.note(`warning: cache ${cache.key} not saved: no files match ${cache.paths.join(", ")}`);
        continue;
      }
      let saved: (CacheSaved & { sha256: string }) | undefined;
      await pipeline(
        Readable.from(writeTar(sources)),
        compressor(SAVE_FORMAT),
        async (archive: AsyncIterable<Buffer>) => {
          saved = await uploadCacheArchive(io.api, cache.key, archive, { signal: io.signal, format: SAVE_FORMAT });
        },
        { signal: io.signal },
      );
      const size = mib(saved!.size);
      io.note(saved!.created ? `cache saved: ${cache.key}, ${size} in ${secs(started)}` : `cache ${cache.key} already saved by another job`);
    } catch (err) {
      if (io.signal.aborted) throw err;
      io.note(`warning: cache ${cache.key} not saved: ${(err as Error).message}`);
    }
  }
}
