/**
 * A project's editable settings (PATCH /api/v1/projects/:project): what each field accepts,
 * shared by the worker (which validates and documents) and the dashboard's settings page.
 */
import { z } from "zod";
import { GITHUB_REPOSITORY } from "./commit-status.ts";
import { Retention } from "./retention.ts";

/** A PATCH names known kinds only: a typo (`log:`) is refused, not silently dropped. */
const RetentionPatch = Retention.strict();

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
    retention: RetentionPatch.nullable().optional(),
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
