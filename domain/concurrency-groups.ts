/**
 * What the API shows of a project's concurrency groups (GET /api/v1/projects/:project/
 * concurrency-groups, the queue page): who holds each group and who waits, in the order they
 * will be granted. Held by the project's ConcurrencyGroupsObject (docs/state-machine.md).
 */
import { z } from "zod";

export const GroupHolderView = z
  .object({
    runId: z.string(),
    runNumber: z.number().int(),
    label: z.string().describe("`run #12` for a pipeline's group, `run #12 · deploy` for a job's"),
    since: z.string().describe("when it was granted the group (holder) or asked for it (waiting)"),
  })
  .meta({ id: "ConcurrencyGroupHolder" });

export const ConcurrencyGroupView = z
  .object({
    group: z.string(),
    holder: GroupHolderView.nullable(),
    waiting: z.array(GroupHolderView).describe("in the order they will be granted the group"),
  })
  .meta({ id: "ConcurrencyGroup" });

export type ConcurrencyGroupView = z.infer<typeof ConcurrencyGroupView>;
