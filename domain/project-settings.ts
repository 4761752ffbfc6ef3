/**
 * A project's editable settings (PATCH /api/v1/projects/:project): what each field accepts,
 * shared by the worker (which validates and documents) and the dashboard's settings page.
 */
import { z } from "zod";
import { GITHUB_REPOSITORY } from "./commit-status.ts";

const DAYS = z.number().int().min(1, "at least 1 day").max(3650, "at most 3650 days (10 years)");

/** Days to keep each kind of data; a kind left out is kept forever. Enforced by the retention cron (another issue). */
export const Retention = z
  .strictObject({ runs: DAYS.optional(), artifacts: DAYS.optional(), logs: DAYS.optional(), caches: DAYS.optional() })
  .meta({ id: "Retention" });
export type Retention = z.infer<typeof Retention>;

/** Where runs report commit statuses: `{github: "owner/name"}` (docs/triggers.md). */
export const StatusesSetting = z
  .strictObject({ github: z.string().regex(GITHUB_REPOSITORY, "github is the repository as owner/name, e.g. acme/api") })
  .meta({ id: "StatusesSetting" });
export type StatusesSetting = z.infer<typeof StatusesSetting>;

export const REPOSITORY_URL = z
  .string()
  .max(2000)
  .regex(/^(https?:\/\/|ssh:\/\/|git@|file:\/\/|\/)/, "repository is a clone URL (https://, ssh://, git@…, file:// or an absolute path)");

export const ProjectPatch = z
  .strictObject({
    name: z.string().min(1).max(200).optional(),
    /** null: the project has no repository (jobs get no checkout). */
    repository: REPOSITORY_URL.nullable().optional(),
    webhookSecret: z.string().min(16, "a webhook secret has at least 16 characters").max(200).optional(),
    /** null: no commit statuses. */
    statuses: StatusesSetting.nullable().optional(),
    /** null: keep everything. */
    retention: Retention.nullable().optional(),
  })
  .meta({ id: "ProjectPatch" });
export type ProjectPatch = z.infer<typeof ProjectPatch>;

/** The last commit status GitHub refused (not retried), shown on the project page. */
export const StatusesErrorView = z.object({
  at: z.string(),
  runId: z.string(),
  runNumber: z.number().int(),
  httpStatus: z.number().int().nullable(),
  message: z.string(),
});
