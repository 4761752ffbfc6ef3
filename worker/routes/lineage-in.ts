/**
 * Lineage in (docs/lineage.md): POST /api/v1/lineage — the path Marquez serves, so OpenLineage
 * clients (Airflow, dbt, Spark) point at Yardmaster unchanged — and the listings of what came in:
 * events, datasets with their latest producer, and what dataset triggers did.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, inArray, lt, or, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { listOf } from "../../domain/views.ts";
import { parseIngestedEvent } from "../../domain/lineage/ingest.ts";
import { isoTime } from "../../domain/time.ts";
import { datasetMatches } from "../../domain/triggers/dataset.ts";
import { DatasetView, IngestAnswer, IngestedEventView, LineageTriggerRecordView } from "../../domain/lineage/ingest-api.ts";
import { datasets, datasetTriggers, lineageEvents, lineageTriggers, pipelines, projects } from "../../platform/db/schema.ts";
import { chainOfParents, fireDatasetTriggers, type TriggerResult } from "../../platform/lineage/dataset-triggers.ts";
import { MAX_DATASETS_PER_EVENT, storeLineageEvent } from "../../platform/lineage/store.ts";
import { canSeeProject, projectFilter, requireGlobalScope, requireScope } from "../auth/principal.ts";
import { ApiError } from "../http/errors.ts";
import { nameContains } from "../services/artifacts.ts";
import { readLineageBody } from "../services/lineage-body.ts";
import { errors, ID, json, router, security } from "./common.ts";

export const lineageInRoutes = router();

lineageInRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/lineage",
    operationId: "ingestLineageEvent",
    summary: "Receive an OpenLineage event (RunEvent, JobEvent or DatasetEvent), as Marquez does",
    description:
      "The body is one OpenLineage 2-x event as JSON, optionally gzip-compressed (`Content-Encoding: gzip`), at most 1 MiB " +
      "once decompressed. It is checked against the official schema (400 names the field), stored, and its datasets " +
      "recorded. A COMPLETE RunEvent whose outputs match a pipeline's `on: dataset` starts it (trigger `lineage`). " +
      "Needs the `run` scope; a token limited to some projects starts pipelines of those projects only.",
    security,
    responses: {
      201: json(IngestAnswer, "Stored; `triggered` lists what the event started or why it did not."),
      ...errors,
      503: json(z.object({ error: z.object({ code: z.string(), message: z.string() }) }), "Stored, but a run it triggers could not be started now: send the event again (it starts one run)."),
    },
  }),
  async (c) => {
    requireScope(c.var.principal, "run");
    const text = await readLineageBody(c.req.raw);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new ApiError(400, "invalid_json", `the body is not JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    const parsed = parseIngestedEvent(body);
    if (!parsed.ok) {
      const [first] = parsed.problems;
      const more = parsed.problems.length > 1 ? ` (and ${parsed.problems.length - 1} more)` : "";
      throw new ApiError(400, "invalid_event", `not a valid OpenLineage event: ${first!.path ? `${first!.path}: ` : ""}${first!.message}${more}`, {
        issues: parsed.problems,
      });
    }
    const ingested = parsed.value;
    const named = ingested.kind === "dataset" ? 1 : (ingested.event.inputs?.length ?? 0) + (ingested.event.outputs?.length ?? 0);
    if (named > MAX_DATASETS_PER_EVENT) {
      throw new ApiError(400, "too_many_datasets", `an event may name at most ${MAX_DATASETS_PER_EVENT} datasets (inputs and outputs); this one names ${named}`);
    }
    const seq = await storeLineageEvent(c.env, ingested, text, "api", Date.now());
    let triggered: TriggerResult[] = [];
    if (ingested.kind === "run" && ingested.event.eventType === "COMPLETE") {
      const { event } = ingested;
      const parent = event.run.facets?.parent;
      const root = parent?.root ?? parent;
      const principal = c.var.principal;
      try {
        triggered = await fireDatasetTriggers(c.env, {
          namespace: event.job.namespace,
          name: event.job.name,
          runId: event.run.runId,
          outputs: (event.outputs ?? []).map((o) => ({ namespace: o.namespace, name: o.name })),
          ...(root ? { root: { namespace: root.job.namespace, name: root.job.name, runId: root.run.runId } } : {}),
          chain: await chainOfParents(c.env, [parent?.run.runId, parent?.root?.run.runId].filter((id): id is string => id !== undefined)),
          ymRunId: null,
          allowed: (project) => canSeeProject(principal, project),
        });
      } catch (error) {
        console.error(`lineage: triggers of ${event.run.runId} not started:`, error);
        throw new ApiError(503, "trigger_unavailable", "the event is stored, but a run it triggers could not be started now: send it again (it starts each run once)");
      }
    }
    return c.json({ seq, kind: ingested.kind, triggered }, 201);
  },
);

const Cursor = z.string().regex(/^\d{1,15}$/, "cursor is the `cursor` of the previous page").optional();

lineageInRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/lineage/events",
    operationId: "listLineageEvents",
    summary: "OpenLineage events received (POST /api/v1/lineage) and Yardmaster's own job COMPLETEs, newest first",
    security,
    request: {
      query: z.object({
        limit: z.coerce.number().int().min(1).max(100).default(50),
        cursor: Cursor,
        runId: ID.optional().describe("only the events of this OpenLineage runId"),
      }),
    },
    responses: { 200: json(listOf(IngestedEventView), "A page of events; pass `cursor` for the next."), ...errors },
  }),
  async (c) => {
    // Events come from anywhere and name no project: a token limited to some projects may not read them.
    requireGlobalScope(c.var.principal, "read");
    const q = c.req.valid("query");
    const where: SQL[] = [];
    if (q.cursor) where.push(lt(lineageEvents.seq, Number(q.cursor)));
    if (q.runId) where.push(eq(lineageEvents.runId, q.runId));
    const rows = await drizzle(c.env.DB)
      .select()
      .from(lineageEvents)
      .where(where.length ? and(...where) : undefined)
      .orderBy(desc(lineageEvents.seq))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    return c.json(
      {
        items: page.map(({ body, receivedAt, source, kind, ...row }) => ({
          ...row,
          kind: kind as "run",
          source: source as "api",
          receivedAt: isoTime(receivedAt),
          event: JSON.parse(body) as Record<string, unknown>,
        })),
        cursor: rows.length > q.limit ? String(page[page.length - 1]!.seq) : null,
      },
      200,
    );
  },
);

/** `namespace\u0000name`: datasets are ordered by (namespace, name), and the cursor is the last one. */
const DatasetCursor = z.string().max(4096).optional().describe("the `cursor` of the previous page");

lineageInRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/datasets",
    operationId: "listDatasets",
    summary: "Datasets seen in lineage events, with their latest producer and the pipelines they trigger",
    security,
    request: {
      query: z.object({
        q: z.string().max(200).optional().describe("only datasets whose namespace or name contains this"),
        limit: z.coerce.number().int().min(1).max(100).default(50),
        cursor: DatasetCursor,
      }),
    },
    responses: { 200: json(listOf(DatasetView), "A page of datasets by namespace and name; pass `cursor` for the next."), ...errors },
  }),
  async (c) => {
    requireGlobalScope(c.var.principal, "read");
    const q = c.req.valid("query");
    const db = drizzle(c.env.DB);
    const where: SQL[] = [];
    if (q.q) where.push(or(nameContains(datasets.name, q.q), nameContains(datasets.namespace, q.q))!);
    if (q.cursor) {
      const [namespace, name] = q.cursor.split("\u0000");
      if (name === undefined) throw new ApiError(400, "invalid_cursor", "cursor is the `cursor` of the previous page");
      where.push(or(gt(datasets.namespace, namespace!), and(eq(datasets.namespace, namespace!), gt(datasets.name, name)))!);
    }
    const rows = await db
      .select()
      .from(datasets)
      .where(where.length ? and(...where) : undefined)
      .orderBy(asc(datasets.namespace), asc(datasets.name))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    const namespaces = [...new Set(page.map((r) => r.namespace))];
    const triggers = namespaces.length
      ? await db
          .select({ namespace: datasetTriggers.namespace, glob: datasetTriggers.nameGlob, pipeline: pipelines.name, project: projects.slug })
          .from(datasetTriggers)
          .innerJoin(pipelines, eq(pipelines.id, datasetTriggers.pipelineId))
          .innerJoin(projects, eq(projects.id, pipelines.projectId))
          .where(inArray(datasetTriggers.namespace, namespaces.slice(0, 90)))
      : [];
    return c.json(
      {
        items: page.map((r) => {
          const taking = triggers.filter((t) => datasetMatches({ namespace: t.namespace, name: t.glob }, r));
          const unique = [...new Map(taking.map((t) => [`${t.project}/${t.pipeline}`, { project: t.project, pipeline: t.pipeline }])).values()];
          return {
            namespace: r.namespace,
            name: r.name,
            producer:
              r.producerNamespace !== null && r.producerJob !== null
                ? { namespace: r.producerNamespace, job: r.producerJob, runId: r.producerRunId, eventType: r.producerEventType, eventTime: r.producerEventTime }
                : null,
            triggers: unique,
            updatedAt: isoTime(r.updatedAt),
          };
        }),
        cursor: rows.length > q.limit ? `${page[page.length - 1]!.namespace}\u0000${page[page.length - 1]!.name}` : null,
      },
      200,
    );
  },
);

lineageInRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/lineage/triggers",
    operationId: "listLineageTriggers",
    summary: "What dataset triggers did: the runs COMPLETE events started, and the starts refused (loops, chains too deep)",
    security,
    request: {
      query: z.object({
        run: ID.optional().describe("a Yardmaster run: the triggers that started it and those its jobs' outputs fired"),
        limit: z.coerce.number().int().min(1).max(100).default(50),
      }),
    },
    responses: { 200: json(z.object({ items: z.array(LineageTriggerRecordView) }), "Newest first."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    const q = c.req.valid("query");
    const where: SQL[] = [];
    if (q.run) where.push(or(eq(lineageTriggers.runId, q.run), eq(lineageTriggers.upstreamYmRunId, q.run))!);
    const allowed = projectFilter(c.var.principal);
    if (allowed) where.push(inArray(lineageTriggers.project, allowed.length ? allowed : [""]));
    const rows = await drizzle(c.env.DB)
      .select()
      .from(lineageTriggers)
      .where(where.length ? and(...where) : undefined)
      .orderBy(desc(lineageTriggers.createdAt))
      .limit(q.limit);
    return c.json(
      {
        items: rows.map((r) => ({
          project: r.project,
          pipeline: r.pipeline,
          outcome: r.outcome as "started",
          runId: r.runId,
          message: r.message,
          datasets: JSON.parse(r.datasets) as { namespace: string; name: string }[],
          upstream: { namespace: r.upstreamNamespace, job: r.upstreamJob, runId: r.upstreamRunId, ymRunId: r.upstreamYmRunId },
          createdAt: isoTime(r.createdAt),
        })),
      },
      200,
    );
  },
);
