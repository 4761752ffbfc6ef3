/**
 * D1 tables of lineage in (docs/lineage.md, "Lineage in"): the events received at
 * POST /api/v1/lineage and Yardmaster's own job COMPLETE events, the datasets they name,
 * the `on: dataset` triggers of the pipelines' current versions, and what each trigger did.
 * Re-exported by schema.ts so drizzle-kit sees them.
 */
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Every accepted event, newest kept: trimmed to LINEAGE_EVENTS_KEPT rows (platform/lineage/store.ts). */
export const lineageEvents = sqliteTable(
  "lineage_events",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    /** run | job | dataset: which of the spec's three event kinds. */
    kind: text("kind").notNull(),
    /** api: POST /api/v1/lineage; yardmaster: a Yardmaster job's own COMPLETE. */
    source: text("source").notNull(),
    eventType: text("event_type"),
    eventTime: text("event_time").notNull(),
    /** The job's (or, for a DatasetEvent, the dataset's) namespace and name. */
    namespace: text("namespace").notNull(),
    name: text("name").notNull(),
    runId: text("run_id"),
    producer: text("producer").notNull(),
    /** The event as received (JSON). */
    body: text("body").notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  (t) => [index("lineage_events_run").on(t.runId)],
);

/**
 * One row per dataset seen; the producer columns are the last event that named it as an output.
 * The least recently named are trimmed beyond DATASETS_KEPT (platform/lineage/store.ts).
 */
export const datasets = sqliteTable(
  "datasets",
  {
    namespace: text("namespace").notNull(),
    name: text("name").notNull(),
    producerNamespace: text("producer_namespace"),
    producerJob: text("producer_job"),
    producerRunId: text("producer_run_id"),
    producerEventType: text("producer_event_type"),
    producerEventTime: text("producer_event_time"),
    /** The lineage_events row of that event. */
    producerSeq: integer("producer_seq"),
    firstSeenAt: integer("first_seen_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.namespace, t.name] }), index("datasets_name").on(t.name), index("datasets_updated").on(t.updatedAt)],
);

/** The `on: dataset` entries of the pipelines' current versions, rewritten with each version. */
export const datasetTriggers = sqliteTable(
  "dataset_triggers",
  {
    pipelineId: text("pipeline_id").notNull(),
    position: integer("position").notNull(),
    projectId: text("project_id").notNull(),
    namespace: text("namespace").notNull(),
    /** A glob over dataset names (domain/triggers/dataset.ts). */
    nameGlob: text("name_glob").notNull(),
  },
  (t) => [primaryKey({ columns: [t.pipelineId, t.position] }), index("dataset_triggers_namespace").on(t.namespace)],
);

/**
 * What a COMPLETE event did to a pipeline it matched: one row per (event, pipeline), inserted
 * before the run is started — so an event starts at most one run of a pipeline however often
 * it is sent — and kept as the record of a refusal (a loop, a chain too deep, a failed start).
 */
export const lineageTriggers = sqliteTable(
  "lineage_triggers",
  {
    /** The upstream OpenLineage runId (a run has one COMPLETE). */
    eventKey: text("event_key").notNull(),
    pipelineId: text("pipeline_id").notNull(),
    projectId: text("project_id").notNull(),
    project: text("project").notNull(),
    pipeline: text("pipeline").notNull(),
    upstreamNamespace: text("upstream_namespace").notNull(),
    upstreamJob: text("upstream_job").notNull(),
    upstreamRunId: text("upstream_run_id").notNull(),
    /** The Yardmaster run whose job sent the event; null for events from outside. */
    upstreamYmRunId: text("upstream_ym_run_id"),
    /** The matching outputs, [{namespace, name}] as JSON. */
    datasets: text("datasets").notNull(),
    /** The Yardmaster pipelines upstream of the started run (`project/pipeline`, oldest first), JSON. */
    chain: text("chain").notNull().default("[]"),
    /** The run started (or to start); null when refused. */
    runId: text("run_id"),
    /** started | pending | loop | too_deep | failed */
    outcome: text("outcome").notNull(),
    message: text("message"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.eventKey, t.pipelineId] }),
    index("lineage_triggers_run").on(t.runId),
    index("lineage_triggers_upstream_ym").on(t.upstreamYmRunId),
    index("lineage_triggers_created").on(t.createdAt),
  ],
);
