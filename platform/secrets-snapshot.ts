/**
 * Project secrets at trigger time (docs/security.md): a run takes a snapshot of the secrets its
 * pipeline references, still encrypted, into its RunObject — which decrypts them only to build
 * the claim answer of the job that uses them. The claim path therefore never reads D1.
 */
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Pipeline } from "../domain/pipeline/types.ts";
import { referencedSecrets } from "../domain/secrets.ts";
import { STATUS_TOKEN_SECRET } from "../domain/commit-status.ts";
import { projectSecrets, type projects } from "./db/schema.ts";
import type { Env } from "./env.ts";

/** Name → encrypted value of the project's secrets that `definition` references. */
export async function snapshotSecrets(env: Env, projectId: string, definition: Pipeline): Promise<Record<string, string>> {
  const names = referencedSecrets(definition);
  if (names.length === 0) return {};
  // A project has at most MAX_SECRETS_PER_PROJECT secrets: read them all and keep the named
  // ones, rather than bind one parameter per name (D1 takes at most 100).
  const rows = await drizzle(env.DB)
    .select({ name: projectSecrets.name, value: projectSecrets.value })
    .from(projectSecrets)
    .where(eq(projectSecrets.projectId, projectId));
  const wanted = new Set(names);
  return Object.fromEntries(rows.filter((r) => wanted.has(r.name)).map((r) => [r.name, r.value]));
}

/**
 * Where a run of `project` reports commit statuses, with the project's GITHUB_TOKEN (encrypted)
 * for the run's object alone — also for runs without secrets (pull requests from forks): the
 * token is the control plane's to use and never reaches a job. Null when the project reports none.
 */
export async function statusTarget(env: Env, project: typeof projects.$inferSelect, origin: string | null) {
  const repository = project.statuses?.github;
  if (!repository) return null;
  const row = (
    await drizzle(env.DB)
      .select({ value: projectSecrets.value })
      .from(projectSecrets)
      .where(and(eq(projectSecrets.projectId, project.id), eq(projectSecrets.name, STATUS_TOKEN_SECRET)))
      .limit(1)
  )[0];
  return { repository, origin: env.YM_PUBLIC_URL || origin, token: row?.value ?? null };
}
