/**
 * Wire shapes of lineage in (docs/lineage.md, "Lineage in"): the answer of POST /api/v1/lineage,
 * GET /api/v1/lineage/events, GET /api/v1/datasets and GET /api/v1/lineage/triggers. Shared by
 * the worker and the dashboard.
 */
import { z } from "zod";

const Dataset = z.object({ namespace: z.string(), name: z.string() });

export const LineageTriggerView = z.object({
  project: z.string(),
  pipeline: z.string(),
  outcome: z
    .enum(["started", "pending", "loop", "too_deep", "failed"])
    .describe("started: the run was created; pending: starting it failed for now and is retried; loop, too_deep, failed: not started, `message` says why"),
  runId: z.string().nullable().describe("the run started, when `outcome` is started"),
  message: z.string().nullable(),
  datasets: z.array(Dataset).describe("the event's outputs that matched the pipeline's `on: dataset`"),
});
export type LineageTriggerView = z.infer<typeof LineageTriggerView>;

export const IngestAnswer = z.object({
  seq: z.number().int().describe("the event's position in GET /api/v1/lineage/events"),
  kind: z.enum(["run", "job", "dataset"]),
  triggered: z.array(LineageTriggerView).describe("what a COMPLETE RunEvent's outputs started (empty for other events)"),
});

export const IngestedEventView = z.object({
  seq: z.number().int(),
  kind: z.enum(["run", "job", "dataset"]),
  source: z.enum(["api", "yardmaster"]),
  eventType: z.string().nullable(),
  eventTime: z.string(),
  namespace: z.string(),
  name: z.string(),
  runId: z.string().nullable(),
  producer: z.string(),
  receivedAt: z.string(),
  event: z.record(z.string(), z.unknown()).describe("the event as received"),
});
export type IngestedEventView = z.infer<typeof IngestedEventView>;

export const DatasetView = z.object({
  namespace: z.string(),
  name: z.string(),
  producer: z
    .object({ namespace: z.string(), job: z.string(), runId: z.string().nullable(), eventType: z.string().nullable(), eventTime: z.string().nullable() })
    .nullable()
    .describe("the last event that named the dataset as an output; null if it was only read"),
  triggers: z.array(z.object({ project: z.string(), pipeline: z.string() })).describe("the pipelines whose `on: dataset` takes it"),
  updatedAt: z.string(),
});
export type DatasetView = z.infer<typeof DatasetView>;

export const LineageTriggerRecordView = LineageTriggerView.extend({
  upstream: z.object({ namespace: z.string(), job: z.string(), runId: z.string(), ymRunId: z.string().nullable() }),
  createdAt: z.string(),
});
export type LineageTriggerRecordView = z.infer<typeof LineageTriggerRecordView>;
