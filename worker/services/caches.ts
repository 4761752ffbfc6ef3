/**
 * Job caches in R2, indexed in D1 (`cache_entries`; docs/architecture.md "Caches"). An entry
 * belongs to one project AND one queue: every lookup and every save is scoped by both, taken
 * from the job token's own job, so a job of one queue never reads what another queue's agents
 * wrote (a queue is a trust boundary: different machines, different secrets).
 *
 * Why D1 and not a per-project Durable Object: the index is small (one row per key), read once
 * per job and cache, and the retention cron already sweeps D1 in batches; the race a DO would
 * serialise — two jobs saving the same key — is settled by the unique (project, queue, key)
 * index: the second insert does nothing and its R2 object is deleted.
 *
 * Size: each project may hold `cacheProjectBytes` in all; past it the least recently used
 * entries (restores count as use) go, oldest first, right after a save.
 */
import { and, asc, eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { uuidv7 } from "uuidv7";
import { CACHE_CONTENT_TYPES, type CacheFormat, type CacheLookup, DEFAULT_CACHE_PROJECT_BYTES } from "../../domain/caches.ts";
import { cacheEntries } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";

export type CacheEntry = typeof cacheEntries.$inferSelect;

/** Where a cache entry's archive lives in R2: per project and queue, then a fresh id (keys may hold any text). */
export function cacheObjectKey(projectId: string, queue: string, id: string, format: CacheFormat): string {
  return `caches/${projectId}/${queue}/${id}.${format === "zstd" ? "tar.zst" : "tar.gz"}`;
}

/** The per-project size limit: `YM_CACHE_PROJECT_BYTES`, else 10 GiB. */
export function cacheProjectBytes(env: Env): number {
  const n = Number(env.YM_CACHE_PROJECT_BYTES);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_CACHE_PROJECT_BYTES;
}

/** The entry for `key`, else the newest whose key starts with a restore key (tried in order). */
export async function findCache(
  env: Env,
  scope: { projectId: string; queue: string },
  key: string,
  restoreKeys: readonly string[],
  now: number,
): Promise<{ hit: CacheLookup["hit"]; entry?: CacheEntry }> {
  const db = drizzle(env.DB);
  const inScope = and(eq(cacheEntries.projectId, scope.projectId), eq(cacheEntries.queue, scope.queue));
  let hit: CacheLookup["hit"] = "miss";
  let entry = (await db.select().from(cacheEntries).where(and(inScope, eq(cacheEntries.key, key))).limit(1))[0];
  if (entry) hit = "exact";
  for (const prefix of restoreKeys) {
    if (entry) break;
    // substr, not LIKE: LIKE ignores ASCII case in SQLite and would need escaping.
    entry = (
      await db
        .select()
        .from(cacheEntries)
        .where(and(inScope, sql`substr(${cacheEntries.key}, 1, ${prefix.length}) = ${prefix}`))
        .orderBy(sql`${cacheEntries.createdAt} DESC`)
        .limit(1)
    )[0];
    if (entry) hit = "partial";
  }
  if (!entry) return { hit: "miss" };
  await db.update(cacheEntries).set({ lastUsedAt: now }).where(eq(cacheEntries.id, entry.id));
  return { hit, entry };
}

/**
 * Stores a new entry's archive (streamed from `body` into R2, checked against its SHA-256),
 * then indexes it; the same key saved meanwhile by another job wins and this copy is dropped.
 */
export async function saveCache(
  env: Env,
  scope: { projectId: string; queue: string },
  meta: { key: string; size: number; sha256: string; format: CacheFormat },
  body: ReadableStream,
  now: number,
): Promise<{ created: boolean }> {
  const id = uuidv7();
  const r2Key = cacheObjectKey(scope.projectId, scope.queue, id, meta.format);
  await env.ARTIFACTS.put(r2Key, body, { sha256: meta.sha256, httpMetadata: { contentType: CACHE_CONTENT_TYPES[meta.format] } });
  return indexCache(env, scope, meta, id, r2Key, now);
}

/**
 * Indexes an archive already stored at `r2Key` (`cacheObjectKey(…, id, format)`: a single PUT or a completed
 * multipart upload), then evicts past the project's limit. When another job indexed the same key
 * first, theirs stays and this archive is deleted.
 */
export async function indexCache(
  env: Env,
  scope: { projectId: string; queue: string },
  meta: { key: string; size: number; sha256: string },
  id: string,
  r2Key: string,
  now: number,
): Promise<{ created: boolean }> {
  const inserted = await drizzle(env.DB)
    .insert(cacheEntries)
    .values({ id, ...scope, key: meta.key, size: meta.size, sha256: meta.sha256, r2Key, createdAt: now, lastUsedAt: now })
    .onConflictDoNothing()
    .returning({ id: cacheEntries.id });
  if (inserted.length === 0) {
    await env.ARTIFACTS.delete(r2Key);
    return { created: false };
  }
  await evictCaches(env, scope.projectId, cacheProjectBytes(env));
  return { created: true };
}

/** Deletes entries (R2 object first, then the row), least recently used first, until the project holds at most `limit` bytes. */
export async function evictCaches(env: Env, projectId: string, limit: number): Promise<number> {
  const db = drizzle(env.DB);
  const [total] = await db
    .select({ bytes: sql<number>`coalesce(sum(${cacheEntries.size}), 0)` })
    .from(cacheEntries)
    .where(eq(cacheEntries.projectId, projectId));
  let over = (total?.bytes ?? 0) - limit;
  let evicted = 0;
  while (over > 0) {
    const batch = await db
      .select()
      .from(cacheEntries)
      .where(eq(cacheEntries.projectId, projectId))
      .orderBy(asc(cacheEntries.lastUsedAt), asc(cacheEntries.id))
      .limit(50);
    if (batch.length === 0) break;
    for (const entry of batch) {
      if (over <= 0) break;
      await deleteCacheEntries(env, [entry]);
      over -= entry.size;
      evicted += 1;
    }
  }
  return evicted;
}

/** Removes entries: their R2 objects, then their rows (one statement). */
export async function deleteCacheEntries(env: Env, entries: readonly CacheEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await env.ARTIFACTS.delete(entries.map((e) => e.r2Key));
  await env.DB.prepare(`DELETE FROM cache_entries WHERE id IN (${entries.map(() => "?").join(",")})`)
    .bind(...entries.map((e) => e.id))
    .run();
}
