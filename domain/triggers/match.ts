/** Which pipelines a push or pull request starts, by their `on:` filters (docs/triggers.md). */
import type { PipelineTriggers } from "../pipeline/types.ts";
import { branchMatches } from "./branch-filter.ts";

export type BranchEvent = { kind: "push"; branch: string } | { kind: "pull_request"; base: string };

/** Whether a pipeline with these triggers starts on the event. */
export function triggersOn(on: PipelineTriggers, event: BranchEvent): boolean {
  if (event.kind === "push") return on.push !== undefined && branchMatches(on.push.branches, event.branch);
  return on.pullRequest !== undefined && branchMatches(on.pullRequest.branches, event.base);
}

/** The pipelines the event starts, in the order given. */
export function matchingPipelines<P extends { name: string; on: PipelineTriggers }>(pipelines: readonly P[], event: BranchEvent): P[] {
  return pipelines.filter((p) => triggersOn(p.on, event));
}
