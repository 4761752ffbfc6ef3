/**
 * Job caches (`cache:` on a job; docs/pipelines.md "Caches", DESIGN.md §7): what the pipeline
 * declares, the `hashFiles(...)` template function the agent evaluates, and the limits both
 * sides check. Pure: the parser, the control plane and the agent import it.
 *
 * A cache key is templated in two passes like every other value: the control plane renders
 * `params.*`, `run.*` and `needs.*`; `${{ hashFiles('glob', …) }}` is not a path template, so
 * that pass leaves it as written, and the agent replaces it by the SHA-256 of the matching
 * files' contents (sorted by name) before it restores or saves.
 */
import { z } from "zod";
import { SHA256_HEX } from "./protocol.ts";

/** At most this many `cache:` entries on one job. */
export const MAX_CACHES_PER_JOB = 10;
/** A rendered cache key (and each restore key) is at most this long. */
export const MAX_CACHE_KEY_LENGTH = 512;
/** At most this many restore keys per cache entry. */
export const MAX_RESTORE_KEYS = 10;
/** A cache archive (tar, gzipped) larger than this is not saved (docs/limits.md). */
export const MAX_CACHE_ENTRY_BYTES = 2 * 1024 ** 3;
/** At most this much in one `PUT …/cache` (a Worker's request body stops at 100 MB); larger entries go in parts. */
export const MAX_CACHE_SINGLE_PUT_BYTES = 95 * 1024 ** 2;
/**
 * Each part of a multipart cache save but the last is exactly this long (R2 wants equal parts
 * of at least 5 MiB). The agent holds a part in memory while it sends it — the archive streams
 * out of the compressor and its size is known only at the end — so parts stay small: with two
 * in flight and one filling, an agent holds at most three.
 */
export const CACHE_PART_BYTES = 16 * 1024 ** 2;
/**
 * How an archive is compressed. zstd where the agent's Node has it (22.15 / 23.8 and later):
 * on this project's benchmark it compresses many times faster than gzip for much the same size
 * (BENCHMARKS.md, caches); gzip elsewhere. A restore reads either, by the archive's first bytes.
 */
export const CACHE_FORMATS = ["gzip", "zstd"] as const;
export type CacheFormat = (typeof CACHE_FORMATS)[number];
export const CACHE_CONTENT_TYPES: Record<CacheFormat, string> = { gzip: "application/gzip", zstd: "application/zstd" };

/** Parts of one entry: the entry limit over the part size, rounded up. */
export const MAX_CACHE_PARTS = Math.ceil(MAX_CACHE_ENTRY_BYTES / CACHE_PART_BYTES);
/** What a project's caches may hold in all (every queue) before the least recently used go. */
export const DEFAULT_CACHE_PROJECT_BYTES = 10 * 1024 ** 3;

/** One `cache:` entry as the assignment carries it. */
export interface JobCache {
  key: string;
  /** Globs relative to the job's work dir (what is archived). */
  paths: string[];
  /** Prefixes tried in order when the key has no exact entry. */
  restoreKeys: string[];
}

/** `${{ hashFiles('a', "b/**") }}`: the arguments are quoted globs separated by commas. */
const HASH_FILES = /\$\{\{\s*hashFiles\(((?:\s*(?:'[^']*'|"[^"]*")\s*,?)*)\)\s*\}\}/g;

/** The globs of each `hashFiles(...)` in `key`, in order. */
export function hashFilesCalls(key: string): { source: string; globs: string[] }[] {
  return [...key.matchAll(HASH_FILES)].map((m) => ({
    source: m[0],
    globs: [...m[1]!.matchAll(/'([^']*)'|"([^"]*)"/g)].map((g) => g[1] ?? g[2]!).filter((g) => g !== ""),
  }));
}

/** `key` with each `hashFiles(...)` replaced by what `hash` answers for its globs. */
export async function renderHashFiles(key: string, hash: (globs: string[]) => Promise<string>): Promise<string> {
  let out = key;
  for (const call of hashFilesCalls(key)) out = out.replace(call.source, await hash(call.globs));
  return out;
}

/** `key` without its `hashFiles(...)` calls: what the parser checks as ordinary templates. */
export function withoutHashFiles(key: string): string {
  return key.replace(HASH_FILES, "");
}

/** Null when a rendered key is usable, else why not. */
export function cacheKeyProblem(key: string): string | null {
  if (key.length === 0) return "a cache key may not be empty";
  if (key.length > MAX_CACHE_KEY_LENGTH) return `a cache key may be at most ${MAX_CACHE_KEY_LENGTH} characters`;
  if (/[\u0000-\u001f\u007f,]/.test(key)) return "a cache key may not contain control characters or commas";
  return null;
}

/** GET /jobs/:jobAttemptId/cache?key=&restore=a,b (job token): the entry to restore, if any. */
export const CacheLookup = z.object({
  hit: z.enum(["exact", "partial", "miss"]),
  /** The entry's id (download it from /jobs/:jobAttemptId/cache/:entry), its key and size. */
  entry: z.string().optional(),
  key: z.string().optional(),
  size: z.number().int().optional(),
  sha256: z.string().optional(),
});
export type CacheLookup = z.infer<typeof CacheLookup>;

/** PUT /jobs/:jobAttemptId/cache?key=&size=&sha256= (job token), the archive as the body. */
export const CacheSaved = z.object({ key: z.string(), size: z.number().int(), created: z.boolean() });
export type CacheSaved = z.infer<typeof CacheSaved>;

/**
 * A multipart cache save (entries over one part): POST /jobs/:jobAttemptId/cache-uploads {key}
 * → CacheUploadStart; PUT …/cache-uploads/:uploadId/parts/:n (raw bytes, `partSize` each but the
 * last) → CachePartAck; POST …/complete with CacheUploadComplete → CacheSaved; DELETE
 * …/cache-uploads/:uploadId aborts (nothing is kept).
 */
export const CacheUploadStart = z.object({ uploadId: z.string(), partSize: z.number().int().positive(), maxBytes: z.number().int().positive() });
export type CacheUploadStart = z.infer<typeof CacheUploadStart>;
export const CachePartAck = z.object({ partNumber: z.number().int(), etag: z.string() });
export const CacheUploadComplete = z.object({
  parts: z.array(z.object({ partNumber: z.number().int().min(1), etag: z.string().min(1) })).min(1).max(MAX_CACHE_PARTS),
  size: z.number().int().min(1),
  sha256: SHA256_HEX,
});
export type CacheUploadComplete = z.infer<typeof CacheUploadComplete>;
