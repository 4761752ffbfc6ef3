/**
 * Per-project retention (issue 18, DESIGN.md §7): how many days runs, artifacts, logs and
 * caches are kept. Absent = kept for ever. Enforced by the cron in bounded batches
 * (worker/services/retention.ts); the `retention` column of `projects` holds it as JSON.
 */
import { z } from "zod";

const days = z.number().int().min(1, "keep for at least 1 day").max(3650, "at most 3650 days (10 years)");

export const Retention = z.object({
  runs: days.optional().describe("days a run (its rows, logs, artifacts) is kept after it was created"),
  artifacts: days.optional().describe("days an artifact's bytes are kept"),
  logs: days.optional().describe("days a run's logs are kept"),
  caches: days.optional().describe("days a cache entry is kept after it was last used"),
});
export type Retention = z.infer<typeof Retention>;

export const DAY_MS = 24 * 60 * 60 * 1000;
