/**
 * GET /api/v1/runs/:run/lineage: the run's OpenLineage events as they were (or will be) sent,
 * in emission order, each with its delivery state, and how delivery stands overall.
 */
import { z } from "zod";
import { EVENT_TYPES } from "./types.ts";

const Time = z.string().nullable();

export const LineageDeliveryState = z
  .enum(["pending", "sent", "rejected", "not_configured"])
  .describe("pending: to send (retried with backoff); sent: the backend answered 2xx; rejected: it answered 4xx, not retried; not_configured: no backend configured");

export const LineageEventView = z
  .object({
    seq: z.number().int().describe("emission order within the run"),
    runId: z.string().describe("the OpenLineage runId: a run attempt's or a job attempt's id"),
    eventType: z.enum(EVENT_TYPES),
    eventTime: z.string(),
    job: z.string().describe("`<namespace>/<name>`"),
    delivery: z.object({
      state: LineageDeliveryState,
      attempts: z.number().int(),
      httpStatus: z.number().int().nullable(),
      error: z.string().nullable(),
      lastAttemptAt: Time,
      sentAt: Time,
    }),
    event: z.record(z.string(), z.unknown()).describe("the OpenLineage RunEvent, exactly as sent"),
  })
  .meta({ id: "LineageEvent" });
export type LineageEventView = z.infer<typeof LineageEventView>;

export const LineageDeliveryView = z
  .object({
    configured: z.boolean().describe("whether a lineage backend (OPENLINEAGE_URL) is configured"),
    configError: z.string().nullable().describe("why the lineage settings were not used, when they make no sense"),
    pending: z.number().int(),
    sent: z.number().int(),
    rejected: z.number().int(),
    notConfigured: z.number().int(),
    failures: z.number().int().describe("failed tries in a row of the event at the head of the queue"),
    nextRetryAt: Time,
    lastError: z.string().nullable(),
  })
  .meta({ id: "LineageDelivery" });
export type LineageDeliveryView = z.infer<typeof LineageDeliveryView>;

export const LineageListView = z
  .object({
    items: z.array(LineageEventView),
    cursor: z.string().nullable().describe("pass as `cursor` for the next page; null on the last"),
    delivery: LineageDeliveryView,
  })
  .meta({ id: "LineageEvents" });
export type LineageListView = z.infer<typeof LineageListView>;
