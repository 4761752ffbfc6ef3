/**
 * A job's `cache:` entries on the agent (docs/agent.md "Caches"): the key's `hashFiles(...)`,
 * the restore before the first step and the save after a successful job.
 *
 * Restore: the server picks the entry (exact key, else the newest under a restore key); its
 * gzipped tar is streamed from the answer through gunzip into a fresh temp dir, and only once
 * the whole archive is extracted are its files moved into the work dir. An interrupted or
 * corrupt download leaves the work dir as it was (and the temp dir is removed).
 *
 * Save: the paths are archived (tar, gzip) into a temp file — streamed, never whole in memory —
 * hashed, and uploaded with its size; the server keeps it per project and queue.
 *
 * A cache is an optimisation: every failure is a warning in the job log, never a failed job.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import { cacheKeyProblem, type JobCache, MAX_CACHE_ENTRY_BYTES, renderHashFiles } from "../domain/caches.ts";
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

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const secs = (from: number) => `${((Date.now() - from) / 1000).toFixed(1)} s`;

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
        const gunzip = createGunzip();
        body.on("error", (err) => gunzip.destroy(err));
        try {
          await extractTar(body.pipe(gunzip), staging);
        } finally {
          body.destroy();
        }
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
  for (const [index, cache] of caches.entries()) {
    if (cache.exactHit) {
      io.note(`cache ${cache.key}: exact hit, not saved again`);
      continue;
    }
    const started = Date.now();
    const archive = path.join(io.tmpDir, `cache-save-${index}.tar.gz`);
    try {
      const sources: TarSource[] = [];
      for (const pattern of cache.paths) {
        for await (const match of glob(pattern, { cwd: io.workspace })) sources.push({ name: match, path: path.join(io.workspace, match) });
      }
      if (sources.length === 0) {
        io.note(`warning: cache ${cache.key} not saved: no files match ${cache.paths.join(", ")}`);
        continue;
      }
      const hash = createHash("sha256");
      const gzip = createGzip({ level: 6 });
      gzip.on("data", (chunk: Buffer) => hash.update(chunk));
      await pipeline(Readable.from(writeTar(sources)), gzip, createWriteStream(archive), { signal: io.signal });
      const size = (await stat(archive)).size;
      if (size > MAX_CACHE_ENTRY_BYTES) {
        io.note(`warning: cache ${cache.key} not saved: ${mib(size)} compressed is over the ${mib(MAX_CACHE_ENTRY_BYTES)} limit of one cache entry`);
        continue;
      }
      const saved = await io.api.putCache({ key: cache.key, size, sha256: hash.digest("hex") }, () => createReadStream(archive), io.signal);
      io.note(saved.created ? `cache saved: ${cache.key}, ${mib(size)} in ${secs(started)}` : `cache ${cache.key} already saved by another job`);
    } catch (err) {
      if (io.signal.aborted) throw err;
      io.note(`warning: cache ${cache.key} not saved: ${(err as Error).message}`);
    } finally {
      await rm(archive, { force: true });
    }
  }
}
