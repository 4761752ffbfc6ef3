/** Artifact bytes in R2: whole-file checks and the API view of a recorded artifact. */
import { type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { ArtifactView } from "../../domain/views.ts";
import type { ArtifactRecord } from "../../platform/artifacts.ts";
import { isoTime } from "../../domain/time.ts";

/** Largest single-request upload: Workers refuse request bodies of 100 MB and more. */
export const MAX_SINGLE_UPLOAD_BYTES = 95 * 1024 ** 2;
/** Part size for multipart uploads (R2: all parts equal but the last, 5 MiB – 5 GiB). */
export const MULTIPART_PART_BYTES = 64 * 1024 ** 2;

/** SHA-256 (hex) of an R2 object, computed by streaming it: never held in memory whole. */
export async function sha256OfObject(bucket: R2Bucket, key: string): Promise<string | null> {
  const object = await bucket.get(key);
  if (!object) return null;
  const digest = new crypto.DigestStream("SHA-256");
  await object.body.pipeTo(digest);
  return [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function artifactView(record: ArtifactRecord & { expiredAt?: number | null }): ArtifactView {
  return {
    ...(record.expiredAt ? { expired: true } : {}),
    id: record.id,
    run: record.runId,
    runNumber: record.runNumber,
    project: record.project,
    pipeline: record.pipeline,
    attempt: record.attempt,
    job: record.job,
    jobAttemptId: record.jobAttemptId,
    name: record.name,
    size: record.size,
    sha256: record.sha256,
    contentType: record.contentType,
    createdAt: isoTime(record.createdAt),
  };
}

/**
 * `column` contains `text`, taken literally: `%`, `_` and `\` are escaped, and the ESCAPE clause
 * tells SQLite so (without it a backslash is an ordinary character and `a_b` finds nothing).
 */
export function nameContains(column: SQLiteColumn, text: string): SQL {
  const literal = text.replace(/[\\%_]/g, (ch) => `\\${ch}`);
  return sql`${column} LIKE ${`%${literal}%`} ESCAPE '\\'`;
}
