// The checks the lineage tests rely on are themselves checked: the validator accepts the official
// examples, rejects what the spec's own notes say is invalid, and catches broken facets; our
// producer and facet schema URLs match package.json and the official schema files.
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { FACET_SCHEMA_URLS, PRODUCER, YARDMASTER_VERSION } from "../../../domain/lineage/index.ts";
import { job, pipeline } from "../../support/pipelines.ts";
import { runCycleViolations, SPEC_DIR, validateEvent } from "../../support/openlineage.ts";
import { LineageDriver } from "./lineage-driver.ts";

const example = (path: string) => JSON.parse(readFileSync(join(SPEC_DIR, "examples", path), "utf8"));
const coreErrors = (event: unknown) => validateEvent(event).filter((e) => e.startsWith("event"));

function sampleEvent() {
  const d = new LineageDriver(pipeline([job("a")]));
  d.runJob("a", "FAILED");
  return structuredClone(d.events.find((e) => e.eventType === "FAIL" && e.job.name === "build.a")!);
}

describe("the OpenLineage validator used by the tests", () => {
  it("accepts the official examples and rejects the two the spec notes call invalid", () => {
    expect(coreErrors(example("openlineage-spec-tests/example_full_event.json"))).toEqual([]);
    for (const name of ["event_full", "event_simple", "event_required_only", "event_dataset_event", "event_job_event"]) {
      expect(coreErrors(example(`marquez/${name}.json`)), name).toEqual([]);
    }
    expect(coreErrors(example("marquez/event_required_no_timezone.json")).join()).toMatch(/eventTime: must match format "date-time"/);
    expect(coreErrors(example("marquez/event_without_schema_url.json")).join()).toMatch(/schemaURL/);
  });

  it("accepts our events and catches a broken facet, an unknown facet, a wrong schema URL and a bad runId", () => {
    expect(validateEvent(sampleEvent())).toEqual([]);

    const noProducer = sampleEvent() as any;
    delete noProducer.run.facets.errorMessage._producer;
    expect(validateEvent(noProducer).join()).toMatch(/errorMessage.*_producer/);

    const noLanguage = sampleEvent() as any;
    delete noLanguage.run.facets.errorMessage.programmingLanguage;
    expect(validateEvent(noLanguage).join()).toMatch(/run.facets.errorMessage.*programmingLanguage/);

    const unknown = sampleEvent() as any;
    unknown.job.facets.mystery = { _producer: PRODUCER, _schemaURL: "https://example.com/x.json" };
    expect(validateEvent(unknown)).toEqual(["job.facets.mystery: no schema known for this facet"]);

    const wrongVersion = sampleEvent() as any;
    wrongVersion.job.facets.jobType._schemaURL = "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json";
    expect(validateEvent(wrongVersion).join()).toMatch(/jobType._schemaURL .* is not the schema's \$id/);

    const badRun = sampleEvent() as any;
    badRun.run.runId = "run-1";
    expect(validateEvent(badRun).join()).toMatch(/runId: must match format "uuid"/);

    const badYardmaster = sampleEvent() as any;
    badYardmaster.run.facets.yardmaster.status = "DONE";
    expect(validateEvent(badYardmaster).join()).toMatch(/yardmaster\/status/);
  });

  it("catches every break of the run cycle", () => {
    const ev = (runId: string, eventType: string, t = 0) => ({ eventType, eventTime: new Date(1e12 + t).toISOString(), run: { runId } });
    expect(runCycleViolations([ev("a", "OTHER"), ev("a", "START"), ev("a", "RUNNING"), ev("a", "OTHER"), ev("a", "COMPLETE")])).toEqual([]);
    expect(runCycleViolations([ev("a", "COMPLETE")])).toEqual(["a [COMPLETE]: COMPLETE before START"]);
    expect(runCycleViolations([ev("a", "START"), ev("a", "FAIL"), ev("a", "OTHER")])).toEqual(["a [START FAIL OTHER]: events after the terminal event"]);
    expect(runCycleViolations([ev("a", "START"), ev("a", "START"), ev("a", "ABORT")])).toEqual(["a [START START ABORT]: more than one START"]);
    expect(runCycleViolations([ev("a", "START")])).toEqual(["a [START]: no terminal event"]);
    expect(runCycleViolations([ev("a", "START", 5), ev("a", "ABORT", 1)])).toEqual(["a [START ABORT]: eventTime goes back at #1"]);
  });
});

describe("producer and schema URLs", () => {
  it("the producer is Yardmaster's repository at package.json's version", () => {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, "../../../package.json"), "utf8"));
    expect(YARDMASTER_VERSION).toBe(pkg.version);
    expect(PRODUCER).toBe(`https://github.com/yardmaster-ci/yardmaster/tree/v${pkg.version}`);
  });

  it("every official facet URL is the $id of a schema file in the spec folder", () => {
    const ids = readdirSync(join(SPEC_DIR, "facets")).map((f) => JSON.parse(readFileSync(join(SPEC_DIR, "facets", f), "utf8")).$id);
    for (const [name, url] of Object.entries(FACET_SCHEMA_URLS)) {
      if (name === "yardmaster") continue;
      expect(ids, name).toContain(url.split("#")[0]);
    }
  });
});
