/** The parser: its limits, the short forms it takes, schedules and their params. */
import { describe, expect, it } from "vitest";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";
import { job, problems, steps, yaml } from "./pipeline-fixtures.ts";
import { PIPELINE_DEFAULTS } from "../../../domain/pipeline/types.ts";

describe("limits", () => {
  it("refuses a file over the size limit without parsing it", () => {
    const text = "# " + "x".repeat(PIPELINE_DEFAULTS.maxFileBytes) + "\n";
    expect(problems(parsePipeline(text))).toEqual([
      { message: `the file is ${text.length} bytes; the limit is 256 KiB`, line: 0, column: 0, path: [] },
    ]);
  });

  it("refuses more jobs than allowed, at the jobs key", () => {
    const jobs = Array.from({ length: PIPELINE_DEFAULTS.maxJobs + 1 }, (_, i) => `  j${i}: {runs-on: x, steps: [{run: y}]}`);
    expect(problems(parsePipeline(yaml("jobs:", ...jobs)))).toEqual([
      { message: "jobs: 1001 jobs; the limit is 1000", line: 1, column: 1, path: ["jobs"] },
    ]);
  });

  it("refuses more steps than allowed in one job", () => {
    const many = Array.from({ length: PIPELINE_DEFAULTS.maxStepsPerJob + 1 }, () => "      - run: x");
    expect(problems(parsePipeline(yaml("jobs:", ...job("a"), ...steps(...many))))[0]).toMatchObject({
      message: "jobs.a.steps: a job may have at most 200 steps",
      line: 4,
    });
  });

  it("refuses recursive aliases and __proto__ keys instead of looping or losing them", () => {
    expect(problems(parsePipeline("jobs: &j { a: *j }"))[0]!.message).toContain("an alias may not point at a node that contains it");
    expect(problems(parsePipeline("jobs:\n  __proto__: {runs-on: x, steps: [{run: y}]}"))[0]).toMatchObject({
      message: 'jobs: "__proto__" may not be used as a key',
      line: 2,
      column: 3,
    });
  });
});

describe("short forms", () => {
  it("a problem inside a one-item short form is reported at the scalar the user wrote", () => {
    const text = yaml("jobs:", ...job("a", "    needs: ghost"), ...steps("      - run: x"));
    expect(problems(parsePipeline(text))).toEqual([
      { message: 'jobs.a.needs: unknown job "ghost"', line: 4, column: 12, path: ["jobs", "a", "needs"] },
    ]);
  });
});

describe("schedules and params", () => {
  it("refuses a scheduled pipeline whose param has no default, at the param", () => {
    const result = parsePipeline(`on:\n  schedule: ["0 3 * * *"]\nparams:\n  target: {}\njobs:\n  a:\n    runs-on: [linux]\n    steps:\n      - run: echo\n`);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problems).toEqual([expect.objectContaining({ line: 4, message: expect.stringContaining("param 'target' has no default") })]);
    }
  });
});
