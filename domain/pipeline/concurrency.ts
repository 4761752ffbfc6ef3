/**
 * `concurrency:` on a pipeline or a job (docs/pipelines.md, "Concurrency groups"): at most one
 * run (job) of a project holds a group at a time, the others wait their turn; with
 * `cancel-in-progress` a newcomer cancels the ones before it (reason `superseded`). The group
 * is a template over `run.*`, `params.*` and (a job's) `matrix.*`, rendered when the run (job)
 * asks for it — domain/run-engine/concurrency.ts.
 */
import type { PipelineFile } from "./schema.ts";
import { renderTemplate } from "../templates.ts";

/** Longest group name once rendered (it is a key in the project's ConcurrencyGroupsObject). */
export const MAX_GROUP_LENGTH = 200;

const WAIT_PREFIX = "concurrency: ";

/** What a job waiting for `group` shows in `waitingOn`. */
export const groupWait = (group: string) => `${WAIT_PREFIX}${group}`;

/** The group a job waits for, from its `waitingOn`; null when it waits for none. */
export function waitedGroup(waitingOn: readonly string[]): string | null {
  const wait = waitingOn.find((w) => w.startsWith(WAIT_PREFIX));
  return wait === undefined ? null : wait.slice(WAIT_PREFIX.length);
}

export interface ConcurrencySpec {
  /** As written, templates included. */
  group: string;
  cancelInProgress: boolean;
}

export function concurrencySpec(raw: PipelineFile["concurrency"]): ConcurrencySpec | undefined {
  return raw ? { group: raw.group, cancelInProgress: raw["cancel-in-progress"] ?? false } : undefined;
}

/**
 * The group's name for one run (job): `run.*`, `params.*` and `matrix.*` rendered. The name is
 * trimmed and cut to MAX_GROUP_LENGTH, so a long branch name cannot make it unusable.
 */
export function renderGroup(
  spec: ConcurrencySpec,
  context: { run: Record<string, string>; params: Record<string, string>; matrix: Record<string, string> | null },
): string {
  const rendered = renderTemplate(spec.group, ([root, name]) => {
    if (root === "run") return context.run[name!] ?? "";
    if (root === "params") return context.params[name!] ?? "";
    if (root === "matrix") return context.matrix?.[name!] ?? "";
    return undefined;
  });
  return rendered.trim().slice(0, MAX_GROUP_LENGTH) || spec.group;
}
