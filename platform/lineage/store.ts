/**
 * Storing lineage events in D1 (docs/lineage.md, "Lineage in"): the event, and the datasets it
 * names with their latest producer, in one D1 batch (a transaction: all or nothing). The events
 * table keeps the newest LINEAGE_EVENTS_KEPT rows: each insert deletes at most TRIM_BATCH of the
 * oldest beyond that, so trimming is bounded per request and keeps up (one insert, ≤100 deletes).
 * The datasets table keeps DATASETS_KEPT rows the same way (an event adds at most 500, an insert
 * trims up to 600 of the least recently named).
 */
import { datasetsOf, type IngestedEvent } from "../../domain/lineage/ingest.ts";
import type { Env } from "../env.ts";

/** Events kept: at the 1 MiB an event may be, at most ~10 GiB; typical events (2–20 KiB) take 20–200 MiB. */
export const LINEAGE_EVENTS_KEPT = 10_000;
const TRIM_BATCH = 100;
/** Datasets kept (the least recently named go first), and how many one insert may trim: more than an event can add. */
export const DATASETS_KEPT = 100_000;
const DATASET_TRIM_BATCH = 600;
/** Datasets one event may name (inputs and outputs): each is a statement of the event's batch. */
export const MAX_DATASETS_PER_EVENT = 500;

export type EventSource = "api" | "yardmaster";

/** The job (or a DatasetEvent's dataset) an event is about, for listing. */
function subjectOf(ingested: IngestedEvent): { namespace: string; name: string; runId: string | null; eventType: string | null } {
  switch (ingested.kind) {
    case "run":
      return { namespace: ingested.event.job.namespace, name: ingested.event.job.name, runId: ingested.event.run.runId, eventType: ingested.event.eventType ?? null };
    case "job":
      return { namespace: ingested.event.job.namespace, name: ingested.event.job.name, runId: null, eventType: null };
    case "dataset":
      return { namespace: ingested.event.dataset.namespace, name: ingested.event.dataset.name, runId: null, eventType: null };
  }
}

/** Stores the event and its datasets; answers the event's seq. */
export async function storeLineageEvent(
  env: Env,
  ingested: IngestedEvent,
  body: string,
  source: EventSource,
  now: number,
  /** How many events to keep (tests pass a small one). */
  keep: number = LINEAGE_EVENTS_KEPT,
  datasetsKept: number = DATASETS_KEPT,
): Promise<number> {
  const subject = subjectOf(ingested);
  const { event } = ingested;
  const insert = env.DB.prepare(
    `INSERT INTO lineage_events (kind, source, event_type, event_time, namespace, name, run_id, producer, body, received_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
  ).bind(ingested.kind, source, subject.eventType, event.eventTime, subject.namespace, subject.name, subject.runId, event.producer, body, now);
  const producer = ingested.kind === "dataset" ? null : subject;
  const datasetStatements = datasetsOf(ingested).map((dataset) =>
    dataset.role === "output" && producer
      ? env.DB.prepare(
          `INSERT INTO datasets (namespace, name, producer_namespace, producer_job, producer_run_id, producer_event_type, producer_event_time, producer_seq, first_seen_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT MAX(seq) FROM lineage_events), ?, ?)
           ON CONFLICT (namespace, name) DO UPDATE SET producer_namespace = excluded.producer_namespace, producer_job = excluded.producer_job,
             producer_run_id = excluded.producer_run_id, producer_event_type = excluded.producer_event_type,
             producer_event_time = excluded.producer_event_time, producer_seq = excluded.producer_seq, updated_at = excluded.updated_at`,
        ).bind(dataset.namespace, dataset.name, producer.namespace, producer.name, producer.runId, producer.eventType, event.eventTime, now, now)
      : env.DB.prepare(
          `INSERT INTO datasets (namespace, name, first_seen_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (namespace, name) DO NOTHING`,
        ).bind(dataset.namespace, dataset.name, now, now),
  );
  const trim = env.DB.prepare(
    `DELETE FROM lineage_events WHERE seq IN (
       SELECT seq FROM lineage_events WHERE seq <= (SELECT MAX(seq) FROM lineage_events) - ? ORDER BY seq LIMIT ?)`,
  ).bind(keep, TRIM_BATCH);
  const trimDatasets = env.DB.prepare(
    `DELETE FROM datasets WHERE rowid IN (
       SELECT rowid FROM datasets ORDER BY updated_at, rowid LIMIT max(0, min(?, (SELECT count(*) FROM datasets) - ?)))`,
  ).bind(DATASET_TRIM_BATCH, datasetsKept);
  const [inserted] = await env.DB.batch([insert, ...datasetStatements, trim, ...(datasetStatements.length > 0 ? [trimDatasets] : [])]);
  return (inserted!.results[0] as { seq: number }).seq;
}
