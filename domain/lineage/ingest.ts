/**
 * What POST /api/v1/lineage accepts (docs/lineage.md, "Lineage in"): an OpenLineage 2-0-2
 * RunEvent, DatasetEvent or JobEvent, checked against the official OpenLineage.json.
 *
 * Why zod and not ajv in the worker: ajv compiles schemas with `new Function`, which workerd
 * forbids, so it would need ajv's standalone code generated at build time (measured: 43.8 KiB
 * minified, 5.1 KiB gzipped, for OpenLineage.json with the formats — and a build step); this
 * file adds 2.1 KiB minified to a bundle that has zod already (docs/lineage.md). This zod schema
 * is the core schema written out — every `required` field, every `format` (date-time, uri,
 * uuid) and the eventType enum — and, for every facet, the BaseFacet contract (`_producer`
 * and `_schemaURL`, URIs). A facet's own fields are not checked: the spec lets producers add
 * facets it does not know (custom facets), and Yardmaster reads no facet but `parent`, which
 * is checked here in full. test/workers/lineage-ingest.test.ts runs the spec's examples
 * through both this schema and ajv with the official schemas.
 */
import { z } from "zod";
import { EVENT_TYPES } from "./types.ts";

// RFC 3339 date-time, as JSON Schema's `format: date-time` (offset required).
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const dateTime = z.string().regex(DATE_TIME, "must be an RFC 3339 date-time with a time zone, e.g. 2026-01-02T03:04:05.678Z");
const uri = z.string().refine((value) => {
  // JSON Schema `format: uri`: an absolute URI (a scheme, then anything but spaces).
  return /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/.test(value);
}, "must be an absolute URI, e.g. https://github.com/OpenLineage/OpenLineage/tree/1.0.0/client/python");
const uuid = z.string().regex(UUID, "must be a UUID");

const baseFacet = z.looseObject({ _producer: uri, _schemaURL: uri });
const facets = z.record(z.string(), baseFacet);
const deletableFacets = z.record(z.string(), baseFacet.extend({ _deleted: z.boolean().optional() }));

const jobRef = z.looseObject({ namespace: z.string(), name: z.string() });
/** The parent facet is the one Yardmaster reads (chains of triggered runs): checked in full. */
const parentFacet = baseFacet.extend({
  run: z.looseObject({ runId: uuid }),
  job: jobRef,
  root: z.looseObject({ run: z.looseObject({ runId: uuid }), job: jobRef }).optional(),
});

const dataset = z.looseObject({ namespace: z.string(), name: z.string(), facets: deletableFacets.optional() });
const inputDataset = dataset.extend({ inputFacets: facets.optional() });
const outputDataset = dataset.extend({ outputFacets: facets.optional() });
const job = z.looseObject({ namespace: z.string(), name: z.string(), facets: deletableFacets.optional() });
const base = { eventTime: dateTime, producer: uri, schemaURL: uri };

export const IngestRunEvent = z.looseObject({
  ...base,
  eventType: z.enum(EVENT_TYPES).optional(),
  run: z.looseObject({
    runId: uuid,
    facets: z.object({ parent: parentFacet.optional() }).catchall(baseFacet).optional(),
  }),
  job,
  inputs: z.array(inputDataset).optional(),
  outputs: z.array(outputDataset).optional(),
});
export const IngestDatasetEvent = z.looseObject({ ...base, dataset });
export const IngestJobEvent = z.looseObject({ ...base, job, inputs: z.array(inputDataset).optional(), outputs: z.array(outputDataset).optional() });

export type IngestRunEvent = z.infer<typeof IngestRunEvent>;
export type IngestDatasetEvent = z.infer<typeof IngestDatasetEvent>;
export type IngestJobEvent = z.infer<typeof IngestJobEvent>;

export type IngestedEvent =
  | { kind: "run"; event: IngestRunEvent }
  | { kind: "dataset"; event: IngestDatasetEvent }
  | { kind: "job"; event: IngestJobEvent };

export type IngestProblem = { path: string; message: string };

const pathOf = (path: readonly PropertyKey[]) =>
  path.reduce<string>((out, key) => (typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), "");

/**
 * Which of the three event kinds `body` is, as the spec's `oneOf` decides it: exactly one of
 * RunEvent (`run` and `job`), JobEvent (`job`, no `run`) and DatasetEvent (`dataset`, not both
 * `job` and `run`) must match. Problems name the field (`run.runId: must be a UUID`).
 */
export function parseIngestedEvent(body: unknown): { ok: true; value: IngestedEvent } | { ok: false; problems: IngestProblem[] } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, problems: [{ path: "", message: "the body must be one OpenLineage event (a JSON object)" }] };
  }
  // The spec's `oneOf`: valid when exactly one of the three kinds matches (its `not` clauses
  // keep a DatasetEvent from having both `job` and `run`, a JobEvent from having `run`).
  const kinds = [
    ["run", IngestRunEvent, "RunEvent"],
    ["job", IngestJobEvent.refine((e) => !Object.hasOwn(e, "run")), "JobEvent"],
    ["dataset", IngestDatasetEvent.refine((e) => !(Object.hasOwn(e, "job") && Object.hasOwn(e, "run"))), "DatasetEvent"],
  ] as const;
  const results = kinds.map(([kind, schema, name]) => ({ kind, name, parsed: schema.safeParse(body) }));
  const matched = results.filter((r) => r.parsed.success);
  if (matched.length === 1) return { ok: true, value: { kind: matched[0]!.kind, event: matched[0]!.parsed.data } as IngestedEvent };
  if (matched.length > 1) {
    const names = matched.map((r) => r.name).join(" and ");
    return { ok: false, problems: [{ path: "", message: `the event is both a ${names}: send \`run\` and \`job\` (RunEvent), \`job\` alone (JobEvent) or \`dataset\` alone (DatasetEvent)` }] };
  }
  // None: report against the kind the sender most likely meant.
  const has = (key: string) => Object.hasOwn(body, key);
  const meant = has("run") ? results[0]! : has("job") ? results[1]! : has("dataset") ? results[2]! : null;
  if (!meant) {
    return { ok: false, problems: [{ path: "run", message: "an OpenLineage event has `run` (RunEvent), `job` (JobEvent) or `dataset` (DatasetEvent)" }] };
  }
  const issues = meant.parsed.error?.issues ?? [];
  return { ok: false, problems: issues.map((issue) => ({ path: pathOf(issue.path), message: issue.message })) };
}

/** The datasets an event names: a RunEvent's or JobEvent's outputs and inputs, a DatasetEvent's dataset. */
export function datasetsOf(ingested: IngestedEvent): { namespace: string; name: string; role: "input" | "output" }[] {
  if (ingested.kind === "dataset") return [{ namespace: ingested.event.dataset.namespace, name: ingested.event.dataset.name, role: "output" }];
  const { inputs = [], outputs = [] } = ingested.event;
  return [
    ...outputs.map((d) => ({ namespace: d.namespace, name: d.name, role: "output" as const })),
    ...inputs.map((d) => ({ namespace: d.namespace, name: d.name, role: "input" as const })),
  ];
}
