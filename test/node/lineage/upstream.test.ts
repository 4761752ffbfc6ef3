// A run started by a dataset (trigger `lineage`): its events name the upstream run in the
// official `parent` facet — the run attempt's parent is the upstream run, every attempt's root
// is the upstream chain's root — and still validate against the official schemas.
import { describe, expect, it } from "vitest";
import type { UpstreamRun } from "../../../domain/triggers/dataset.ts";
import { job, pipeline } from "../../support/pipelines.ts";
import { expectSound } from "./helpers.ts";
import { LineageDriver } from "./lineage-driver.ts";

const upstream: UpstreamRun = {
  namespace: "airflow",
  name: "etl.load_events",
  runId: "0192e4a8-5f2c-7b7a-9c3e-4d5e6f708192",
  root: { namespace: "airflow", name: "etl", runId: "0192e4a8-5f2c-7b7a-9c3e-4d5e6f700000" },
  dataset: { namespace: "s3://raw", name: "events/2026" },
  chain: [],
};

describe("lineage events of a dataset-triggered run", () => {
  it("carry the upstream run as the parent of the run attempt, and its root as every root", () => {
    const d = new LineageDriver(pipeline([job("load", [])], "load"), { trigger: "lineage", upstream });
    const attempt = d.attempt();
    const load = d.latest("load");
    d.later().runJob("load");
    expectSound(d.events);

    for (const event of d.eventsOf(attempt.id)) {
      expect(event.run.facets.parent).toMatchObject({
        run: { runId: upstream.runId },
        job: { namespace: "airflow", name: "etl.load_events" },
        root: { run: { runId: upstream.root.runId }, job: { namespace: "airflow", name: "etl" } },
      });
    }
    for (const event of d.eventsOf(load.id)) {
      expect(event.run.facets.parent).toMatchObject({
        run: { runId: attempt.id },
        job: { namespace: d.state.run.project, name: "load" },
        root: { run: { runId: upstream.root.runId }, job: { namespace: "airflow", name: "etl" } },
      });
    }
  });

  it("a run started any other way has no parent on its run attempt, and is its jobs' root", () => {
    const d = new LineageDriver(pipeline([job("load", [])], "load"));
    const attempt = d.attempt();
    const load = d.latest("load");
    d.later().runJob("load");
    expectSound(d.events);
    expect(d.eventsOf(attempt.id).every((e) => e.run.facets.parent === undefined)).toBe(true);
    expect(d.eventsOf(load.id)[0]!.run.facets.parent!.root.run.runId).toBe(attempt.id);
  });
});
