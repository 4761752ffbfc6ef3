/**
 * Removing what a run keeps (issue 18): its R2 objects (artifacts and log archives, all under
 * the run's id) for `DELETE /api/v1/runs/:run` and the retention cron, and the mark that says
 * its logs were removed by retention (the log route then answers 410 `expired`).
 */
export const REMOVAL_MIGRATIONS = [`CREATE TABLE expired (what TEXT PRIMARY KEY, at INTEGER NOT NULL);`];

/** The R2 prefixes under which a run's objects live (platform/artifacts.ts, ./log-store.ts). */
export const runPrefixes = (runId: string) => ({ artifacts: `artifacts/${runId}/`, logs: `logs/${runId}/` });

/** Deletes every object under `prefix`, a page (≤ 1000) at a time; answers how many. */
export async function deletePrefix(bucket: R2Bucket, prefix: string): Promise<number> {
  let deleted = 0;
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, ...(cursor ? { cursor } : {}) });
    if (page.objects.length > 0) await bucket.delete(page.objects.map((o) => o.key));
    deleted += page.objects.length;
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return deleted;
}

export function markExpired(sql: SqlStorage, what: "logs", at: number): void {
  sql.exec("INSERT OR REPLACE INTO expired (what, at) VALUES (?, ?)", what, at);
}

export function expiredAt(sql: SqlStorage, what: "logs"): number | null {
  return sql.exec<{ at: number }>("SELECT at FROM expired WHERE what = ?", what).toArray()[0]?.at ?? null;
}

/** Deletes the run's R2 objects, closes its viewers, then all its storage and its alarm; answers how many objects. */
export async function removeRun(ctx: DurableObjectState, bucket: R2Bucket, runId: string): Promise<number> {
  const prefixes = runPrefixes(runId);
  const objects = (await deletePrefix(bucket, prefixes.artifacts)) + (await deletePrefix(bucket, prefixes.logs));
  for (const ws of ctx.getWebSockets()) {
    try {
      ws.close(1000, "run deleted");
    } catch {
      // already closed
    }
  }
  await ctx.storage.deleteAlarm();
  await ctx.storage.deleteAll();
  return objects;
}

/** Deletes the run's log archives and marks its logs expired (with `known`: the run exists here). */
export async function removeLogs(ctx: DurableObjectState, bucket: R2Bucket, runId: string, known: boolean): Promise<number> {
  const objects = await deletePrefix(bucket, runPrefixes(runId).logs);
  if (known) {
    ctx.storage.transactionSync(() => {
      markExpired(ctx.storage.sql, "logs", Date.now());
      // The live feed's log events point into the archives just deleted: a viewer gets the run without its log lines.
      ctx.storage.sql.exec("DELETE FROM live_events WHERE kind = 'log'");
    });
  }
  return objects;
}
