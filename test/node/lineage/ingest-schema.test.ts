// The worker's event schema (domain/lineage/ingest.ts, zod) against the official OpenLineage
// schemas (ajv, test/support/openlineage.ts) on every example event the vendored spec and
// Marquez ship, and on broken variants of them: both must accept and refuse the same events,
// so POST /api/v1/lineage refuses exactly what the spec refuses (for what the spec checks in
// the core schema; facets' own fields are checked by ajv only, see ingest.ts).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020Module from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { describe, expect, it } from "vitest";
import { parseIngestedEvent } from "../../../domain/lineage/ingest.ts";
import { SPEC_DIR } from "../../support/openlineage.ts";

const Ajv2020 = ((Ajv2020Module as any).default ?? Ajv2020Module) as typeof import("ajv/dist/2020.js").Ajv2020;
const addFormats = ((addFormatsModule as any).default ?? addFormatsModule) as (ajv: unknown) => void;

function coreValidator() {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
  addFormats(ajv);
  ajv.addKeyword("example");
  const core = JSON.parse(readFileSync(join(SPEC_DIR, "OpenLineage.json"), "utf8"));
  return ajv.compile(core);
}

function exampleEvents(): [string, unknown][] {
  const dir = join(SPEC_DIR, "examples");
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".json"))
    .map((f) => [f, JSON.parse(readFileSync(join(dir, f), "utf8"))] as [string, unknown])
    .filter(([, json]) => typeof json === "object" && json !== null && ("run" in json || "job" in json || "dataset" in json));
}

/** Variants that break one thing the core schema checks. */
function broken(event: any): [string, unknown][] {
  const variants: [string, (e: any) => void][] = [
    ["no eventTime", (e) => delete e.eventTime],
    ["eventTime without zone", (e) => (e.eventTime = "2024-01-01T10:00:00")],
    ["producer not a URI", (e) => (e.producer = "not a uri")],
    ["no schemaURL", (e) => delete e.schemaURL],
    ["runId not a UUID", (e) => e.run && (e.run.runId = "run-1")],
    ["unknown eventType", (e) => e.run && (e.eventType = "DONE")],
    ["job without name", (e) => e.job && delete e.job.name],
    ["output without namespace", (e) => e.outputs?.length && delete e.outputs[0].namespace],
    ["facet without _producer", (e) => e.run && (e.run.facets = { ...(e.run.facets ?? {}), custom: { _schemaURL: "https://x/y" } })],
    ["no job", (e) => delete e.job],
    ["no job, a dataset", (e) => {
      delete e.job;
      e.dataset = { namespace: "n", name: "d" };
    }],
    ["a run added", (e) => (e.run ??= { runId: "3f5e83fa-3480-44ff-99c5-ff943904e5e8" })],
    ["a job and a dataset, no run", (e) => {
      delete e.run;
      e.job ??= { namespace: "n", name: "j" };
      e.dataset ??= { namespace: "n", name: "d" };
    }],
  ];
  return variants.map(([name, change]) => {
    const copy = structuredClone(event);
    change(copy);
    return [name, copy];
  });
}

describe("the ingest schema agrees with the official OpenLineage schema", () => {
  const ajv = coreValidator();
  const examples = exampleEvents();

  it("has examples to check", () => {
    expect(examples.length).toBeGreaterThan(5);
  });

  for (const [file, event] of examples) {
    it(`${file}, and broken variants of it`, () => {
      for (const [what, candidate] of [["as shipped", event] as [string, unknown], ...broken(event)]) {
        const official = ajv(candidate);
        const ours = parseIngestedEvent(candidate);
        expect(ours.ok, `${file} ${what}: ajv says ${official} ${JSON.stringify(ajv.errors?.slice(0, 2))}; ours ${JSON.stringify(ours)}`).toBe(official);
      }
    });
  }

  it("names the field that is wrong", () => {
    const result = parseIngestedEvent({ eventTime: "2024-01-01T00:00:00Z", producer: "https://p", schemaURL: "https://s", run: { runId: "x" }, job: { namespace: "n", name: "j" } });
    expect(result).toEqual({ ok: false, problems: [{ path: "run.runId", message: "must be a UUID" }] });
  });
});
