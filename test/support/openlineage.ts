/**
 * Checks for emitted OpenLineage events, shared by the Node and e2e tests:
 *  - `validateEvent`: ajv (JSON Schema 2020-12, formats asserted) against the official
 *    OpenLineage.json, and every facet against its own official schema (or ours, for the
 *    `yardmaster` facet); a facet without a schema is a violation too.
 *  - `runCycleViolations`: the run cycle per runId (START first, one terminal event, nothing after).
 * The official schemas are copied, byte for byte, into test/fixtures/openlineage-spec (its
 * SOURCE.txt says from where); OPENLINEAGE_SPEC_DIR points elsewhere (a newer spec, say).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

const ROOT = resolve(import.meta.dirname, "../..");
export const SPEC_DIR = process.env.OPENLINEAGE_SPEC_DIR ?? join(ROOT, "test/fixtures/openlineage-spec");
const OWN_FACETS_DIR = join(ROOT, "docs/openlineage/facets");

type Json = Record<string, any>;
const readJson = (path: string): Json => JSON.parse(readFileSync(path, "utf8"));

// ajv-formats is CommonJS; its default export arrives wrapped or not depending on the loader.
const addFormats = ((addFormatsModule as any).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;

function ownFacetFiles(): string[] {
  return readdirSync(OWN_FACETS_DIR, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".json"))
    .map((f) => join(OWN_FACETS_DIR, f));
}

interface FacetSchema {
  id: string;
  validate: ValidateFunction;
}

class OpenLineageValidator {
  private readonly event: ValidateFunction;
  private readonly facets = new Map<string, FacetSchema>();

  constructor() {
    // strictRequired only objects to the spec's own `not: {required: [job, run]}`; every other
    // strict check stays on, and formats (date-time, uri, uuid) are asserted.
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
    addFormats(ajv);
    ajv.addKeyword("example"); // documentation-only keyword used throughout the official schemas
    const core = readJson(join(SPEC_DIR, "OpenLineage.json"));
    ajv.addSchema(core);
    const facetFiles = [
      ...readdirSync(join(SPEC_DIR, "facets")).filter((f) => f.endsWith(".json")).map((f) => join(SPEC_DIR, "facets", f)),
      ...ownFacetFiles(),
    ];
    const schemas = facetFiles.map(readJson);
    for (const schema of schemas) ajv.addSchema(schema);
    for (const schema of schemas) {
      // A facet schema describes the facets object: {properties: {<facet key>: {$ref: …}}}.
      for (const key of Object.keys(schema.properties ?? {})) {
        this.facets.set(key, { id: schema.$id, validate: ajv.getSchema(schema.$id)! });
      }
    }
    this.event = ajv.getSchema(core.$id)!;
  }

  private checkFacets(where: string, facets: Json | undefined, errors: string[]): void {
    for (const [key, facet] of Object.entries(facets ?? {})) {
      const schema = this.facets.get(key);
      if (!schema) {
        errors.push(`${where}.${key}: no schema known for this facet`);
        continue;
      }
      if (!schema.validate({ [key]: facet })) {
        for (const e of schema.validate.errors ?? []) errors.push(`${where}.${key}${e.instancePath}: ${e.message} ${JSON.stringify(e.params)}`);
      }
      const url = String((facet as Json)._schemaURL ?? "");
      if (url.split("#")[0] !== schema.id) errors.push(`${where}.${key}._schemaURL ${url} is not the schema's $id ${schema.id}`);
    }
  }

  /** Every violation of the official schemas by `event`, facets included; empty when valid. */
  validate(event: unknown): string[] {
    const errors: string[] = [];
    if (!this.event(event)) {
      for (const e of this.event.errors ?? []) errors.push(`event${e.instancePath}: ${e.message} ${JSON.stringify(e.params)}`);
    }
    const ev = event as Json;
    this.checkFacets("run.facets", ev.run?.facets, errors);
    this.checkFacets("job.facets", ev.job?.facets, errors);
    for (const [list, extra] of [["inputs", "inputFacets"], ["outputs", "outputFacets"]] as const) {
      (ev[list] ?? []).forEach((dataset: Json, i: number) => {
        this.checkFacets(`${list}[${i}].facets`, dataset.facets, errors);
        this.checkFacets(`${list}[${i}].${extra}`, dataset[extra], errors);
      });
    }
    return errors;
  }
}

let validator: OpenLineageValidator | null = null;

export function validateEvent(event: unknown): string[] {
  validator ??= new OpenLineageValidator();
  return validator.validate(event);
}

export interface EventLike {
  eventType: string;
  eventTime: string;
  run: { runId: string };
}

const TERMINAL = ["COMPLETE", "ABORT", "FAIL"];

/**
 * Run-cycle rules per runId, over events in the order they were emitted or received: START
 * exactly once and before anything but OTHER; exactly one terminal event (unless `finished`
 * is false) and nothing after it; event times never go back.
 */
export function runCycleViolations(events: readonly EventLike[], finished = true): string[] {
  const byRun = new Map<string, EventLike[]>();
  for (const e of events) byRun.set(e.run.runId, [...(byRun.get(e.run.runId) ?? []), e]);
  const errors: string[] = [];
  for (const [runId, list] of byRun) {
    const types = list.map((e) => e.eventType);
    const say = (what: string) => errors.push(`${runId} [${types.join(" ")}]: ${what}`);
    const start = types.indexOf("START");
    const terminals = types.flatMap((t, i) => (TERMINAL.includes(t) ? [i] : []));
    if (types.filter((t) => t === "START").length > 1) say("more than one START");
    if (terminals.length > 1) say("more than one terminal event");
    if (finished && terminals.length === 0) say("no terminal event");
    if (terminals.length > 0 && terminals[0] !== types.length - 1) say("events after the terminal event");
    types.forEach((t, i) => {
      if (t !== "OTHER" && t !== "START" && (start === -1 || i < start)) say(`${t} before START`);
    });
    for (let i = 1; i < list.length; i++) {
      if (Date.parse(list[i]!.eventTime) < Date.parse(list[i - 1]!.eventTime)) say(`eventTime goes back at #${i}`);
    }
  }
  return errors;
}

/** The event types per runId, in order. */
export function sequences(events: readonly EventLike[]): Map<string, string[]> {
  const byRun = new Map<string, string[]>();
  for (const e of events) byRun.set(e.run.runId, [...(byRun.get(e.run.runId) ?? []), e.eventType]);
  return byRun;
}
