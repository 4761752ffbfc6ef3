/**
 * Storing a pipeline file as a version (DESIGN.md §2: every version is kept, by content hash).
 * The same content as the current version stores nothing; the content of an earlier version
 * makes that version current again (no duplicate: a pipeline has one version per content);
 * anything else is version N+1. Two uploads at the same time race on D1's unique indexes
 * (pipeline name, version number, content hash): the loser reads again and decides anew, so a
 * race never ends in a 500 or a half-stored version.
 */
import type { AuditContext } from "../../platform/audit.ts";
import { auditRow } from "./audit.ts";
import { and, eq, max } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { uuidv7 } from "uuidv7";
import type { Pipeline } from "../../domain/pipeline/types.ts";
import { pipelines, pipelineVersions } from "../../platform/db/schema.ts";
import { isUniqueViolation } from "../../platform/db/unique.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError } from "../http/errors.ts";
import { datasetTriggerStatements } from "../../platform/lineage/dataset-triggers.ts";
import { scheduleStatements } from "./scheduler.ts";

export interface StoreInput {
  projectId: string;
  name: string;
  text: string;
  /** SHA-256 (hex) of the file's bytes. */
  hash: string;
  definition: Pipeline;
  /** Who uploads it: the audit row goes in the version's batch (docs/security.md "The audit log"). */
  by?: { who: AuditContext; project: string };
}

export interface StoredVersion {
  /** created: version N+1; unchanged: same as the current one; restored: an earlier one is current again. */
  outcome: "created" | "unchanged" | "restored";
  pipelineId: string;
  version: typeof pipelineVersions.$inferSelect;
  updatedAt: number;
}

const MAX_TRIES = 5;

export async function storePipelineVersion(env: Env, input: StoreInput): Promise<StoredVersion> {
  for (let tries = 1; ; tries++) {
    try {
      return await storeOnce(env, input);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      if (tries >= MAX_TRIES) {
        throw new ApiError(409, "concurrent_update", `pipeline '${input.name}' is being changed by other uploads at the same time; send it again`);
      }
    }
  }
}

async function storeOnce(env: Env, input: StoreInput): Promise<StoredVersion> {
  const db = drizzle(env.DB);
  const now = Date.now();
  const { projectId, name, hash, definition } = input;
  const existing = (await db.select().from(pipelines).where(and(eq(pipelines.projectId, projectId), eq(pipelines.name, name))).limit(1))[0];
  const pipelineId = existing?.id ?? uuidv7();
  // The version and the pipeline's pointer to it, its schedules (docs/triggers.md) and its
  // dataset triggers (docs/lineage.md) land together or not at all.
  const schedules = () => [
    ...scheduleStatements(db, pipelineId, projectId, definition.on.schedule ?? [], now),
    ...datasetTriggerStatements(db, pipelineId, projectId, definition.on.dataset ?? []),
  ];
  const audit = (action: string, version: number) =>
    input.by ? [auditRow(env, input.by.who, { action, project: input.by.project, target: `${name} v${version}` }, now)] : [];

  if (existing) {
    const known = (await db.select().from(pipelineVersions).where(and(eq(pipelineVersions.pipelineId, pipelineId), eq(pipelineVersions.hash, hash))).limit(1))[0];
    if (known && known.id === existing.currentVersionId) return { outcome: "unchanged", pipelineId, version: known, updatedAt: existing.updatedAt };
    if (known) {
      await db.batch([db.update(pipelines).set({ currentVersionId: known.id, updatedAt: now }).where(eq(pipelines.id, pipelineId)), ...schedules(), ...audit("pipeline.restore", known.version)]);
      return { outcome: "restored", pipelineId, version: known, updatedAt: now };
    }
  }
  const last = existing
    ? ((await db.select({ v: max(pipelineVersions.version) }).from(pipelineVersions).where(eq(pipelineVersions.pipelineId, pipelineId)))[0]?.v ?? 0)
    : 0;
  const version = { id: uuidv7(), pipelineId, version: last + 1, hash, content: input.text, definition: JSON.stringify(definition), createdAt: now };
  const insertVersion = db.insert(pipelineVersions).values(version);
  if (existing) {
    await db.batch([insertVersion, db.update(pipelines).set({ currentVersionId: version.id, updatedAt: now }).where(eq(pipelines.id, pipelineId)), ...schedules(), ...audit("pipeline.update", version.version)]);
  } else {
    const row = { id: pipelineId, projectId, name, currentVersionId: version.id, createdAt: now, updatedAt: now };
    await db.batch([db.insert(pipelines).values(row), insertVersion, ...schedules(), ...audit("pipeline.create", version.version)]);
  }
  return { outcome: "created", pipelineId, version, updatedAt: now };
}
