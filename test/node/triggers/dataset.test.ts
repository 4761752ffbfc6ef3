// `on: dataset` (domain/triggers/dataset.ts): which outputs a pipeline takes, how chains stop,
// and how the pipeline file declares it.
import { describe, expect, it } from "vitest";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";
import { chainRefusal, datasetMatches, MAX_CHAIN_DEPTH, matchingOutputs } from "../../../domain/triggers/dataset.ts";

describe("dataset matching", () => {
  const raw = { namespace: "s3://raw", name: "events/*" };

  it("compares the namespace exactly and the name as a glob", () => {
    expect(datasetMatches(raw, { namespace: "s3://raw", name: "events/2026" })).toBe(true);
    expect(datasetMatches(raw, { namespace: "s3://raw/", name: "events/2026" })).toBe(false);
    expect(datasetMatches(raw, { namespace: "S3://raw", name: "events/2026" })).toBe(false);
    expect(datasetMatches(raw, { namespace: "s3://raw", name: "events/2026/12" })).toBe(false); // * stays in one segment
    expect(datasetMatches({ namespace: "s3://raw", name: "events/**" }, { namespace: "s3://raw", name: "events/2026/12" })).toBe(true);
    expect(datasetMatches({ namespace: "pg", name: "shop.*" }, { namespace: "pg", name: "shop.orders" })).toBe(true);
    expect(datasetMatches({ namespace: "pg", name: "shop.*" }, { namespace: "pg", name: "shop.orders.v2" })).toBe(true); // `.` is ordinary
    expect(datasetMatches({ namespace: "pg", name: "*" }, { namespace: "pg", name: ".hidden" })).toBe(true);
    expect(datasetMatches({ namespace: "pg", name: "#tbl" }, { namespace: "pg", name: "#tbl" })).toBe(true);
  });

  it("lists each matching output once, in the event's order", () => {
    const outputs = [
      { namespace: "s3://raw", name: "events/b" },
      { namespace: "s3://other", name: "events/a" },
      { namespace: "s3://raw", name: "events/a" },
      { namespace: "s3://raw", name: "events/b" },
    ];
    expect(matchingOutputs([raw], outputs)).toEqual([
      { namespace: "s3://raw", name: "events/b" },
      { namespace: "s3://raw", name: "events/a" },
    ]);
    expect(matchingOutputs([], outputs)).toEqual([]);
  });
});

describe("chains", () => {
  it("stops a pipeline that is already in the chain, naming the loop", () => {
    expect(chainRefusal([], "p/a")).toBeNull();
    expect(chainRefusal(["p/a"], "p/b")).toBeNull();
    expect(chainRefusal(["p/a"], "p/a")).toEqual({ outcome: "loop", message: "not started: p/a → p/a is a loop (the chain would start p/a again)" });
    expect(chainRefusal(["p/x", "p/a", "p/b"], "p/a")?.message).toContain("p/a → p/b → p/a");
  });

  it("stops a chain at the depth limit", () => {
    const chain = Array.from({ length: MAX_CHAIN_DEPTH }, (_, i) => `p/${i}`);
    expect(chainRefusal(chain.slice(1), "p/new")).toBeNull();
    expect(chainRefusal(chain, "p/new")).toMatchObject({ outcome: "too_deep" });
  });
});

const ok = (text: string) => {
  const result = parsePipeline(text);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.pipeline;
};
const problems = (text: string) => {
  const result = parsePipeline(text);
  return result.ok ? [] : result.problems;
};

describe("on: dataset in a pipeline file", () => {
  const file = (on: string, params = "") => `name: load
on:
${on}
${params}jobs:
  load:
    runs-on: [linux]
    steps:
      - run: echo \${{ params.dataset_name }} \${{ params.upstream_run }}
`;

  it("is parsed, and declares the lineage params (default empty)", () => {
    const pipeline = ok(file(`  dataset:\n    - namespace: s3://raw\n      name: "events/*"`));
    expect(pipeline.on.dataset).toEqual([{ namespace: "s3://raw", name: "events/*" }]);
    expect(Object.keys(pipeline.params)).toEqual(["dataset_namespace", "dataset_name", "upstream_run"]);
    expect(pipeline.params.dataset_name).toEqual({ default: "", description: "set by a dataset trigger (on: dataset)" });
  });

  it("keeps params the file declares itself, and needs a default for every other", () => {
    const own = ok(file(`  dataset:\n    - namespace: n\n      name: x`, "params:\n  dataset_name: fallback\n"));
    expect(own.params.dataset_name).toEqual({ default: "fallback" });
    const missing = problems(file(`  dataset:\n    - namespace: n\n      name: x`, "params:\n  region:\n"));
    expect(missing.map((p) => p.message).join("\n")).toContain("param 'region' has no default, so a run started by a dataset could not start: give it a default");
  });

  it("refuses an empty list, a missing name and unknown keys, saying where", () => {
    expect(problems(file("  dataset: []"))[0]?.message).toContain("at least one dataset");
    expect(problems(file("  dataset:\n    - namespace: n"))[0]?.path).toEqual(["on", "dataset", 0, "name"]);
    expect(problems(file("  dataset:\n    - namespace: n\n      name: x\n      glob: y"))[0]?.message).toContain("glob");
  });

  it("without it, the lineage params are not declared", () => {
    expect(problems(file("  push:")).map((p) => p.message)).toEqual([
      'jobs.load.steps[0].run: ${{ params.dataset_name }}: unknown param "dataset_name"; declare it under params:',
      'jobs.load.steps[0].run: ${{ params.upstream_run }}: unknown param "upstream_run"; declare it under params:',
    ]);
  });
});
