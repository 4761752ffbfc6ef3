import { describe, expect, it } from "vitest";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";
import { DESIGN_EXAMPLE, job, ok, problems, step, steps, yaml } from "./pipeline-fixtures.ts";
import { PIPELINE_DEFAULTS } from "../../../domain/pipeline/types.ts";

describe("the DESIGN.md example", () => {
  it("normalises to the documented shape with every default filled in", () => {
    expect(ok(parsePipeline(DESIGN_EXAMPLE))).toEqual({
      name: "build",
      env: { CI: "true" },
      params: {},
      on: {},
      jobs: [
        {
          key: "test",
          queue: "default",
          runsOn: ["linux", "node"],
          priority: 0,
          timeoutMs: 600_000,
          retries: 2,
          needs: [],
          env: {},
          steps: [
            step("install", "npm ci", []),
            step("unit", "npm test", ["install"]),
            step("lint", "npm run lint", ["install"], { continueOnError: true }),
          ],
          outputs: { version: "${{ steps.install.outputs.version }}" },
          artifacts: ["coverage/**"],
          caches: [],
          lineage: { inputs: [{ namespace: "s3://raw", name: "events" }], outputs: [] },
        },
        {
          key: "deploy",
          queue: "default",
          runsOn: ["linux"],
          priority: 0,
          timeoutMs: PIPELINE_DEFAULTS.jobTimeoutMs,
          retries: 0,
          needs: ["test"],
          env: {},
          steps: [step("step-1", "./deploy.sh ${{ needs.test.outputs.version }}", [])],
          outputs: {},
          artifacts: [],
          caches: [],
          lineage: { inputs: [], outputs: [] },
        },
      ],
    });
  });
});

describe("problems carry the line and column of the node at fault", () => {
  it("an unknown key, at the key, suggesting the right one", () => {
    const text = yaml("jobs:", ...job("a", "    need: [b]"), ...steps("      - run: x"), ...job("b"), ...steps("      - run: y"));
    expect(problems(parsePipeline(text))).toEqual([
      { message: 'jobs.a: unknown key "need" — did you mean "needs"?', line: 4, column: 5, path: ["jobs", "a", "need"] },
    ]);
  });

  it("spellings from other tools get a hint too", () => {
    const text = yaml("jobs:", ...job("a", "    timeout-minutes: 10", "    depends_on: [b]"), ...steps("      - script: x"));
    expect(problems(parsePipeline(text)).map((p) => p.message)).toEqual([
      'jobs.a: unknown key "timeout-minutes" — did you mean "timeout"?',
      'jobs.a: unknown key "depends_on" — did you mean "needs"?',
      'jobs.a.steps[0]: "run" is required',
      'jobs.a.steps[0]: unknown key "script" — did you mean "run"?',
    ]);
  });

  it("a YAML syntax error, where the parser stopped", () => {
    const [problem, ...rest] = problems(parsePipeline(yaml("jobs:", "  a: [1, 2", "  b: 3")));
    expect(rest).toEqual([]);
    expect(problem).toMatchObject({ line: 3, column: 3 });
    expect(problem!.message).toMatch(/^YAML: /);
  });

  it("a duplicate mapping key, at the second key", () => {
    const text = yaml("jobs:", ...job("a"), ...steps("      - run: x"), ...job("a"), ...steps("      - run: y"));
    expect(problems(parsePipeline(text))).toEqual([
      { message: 'duplicate key "a": a key may appear once in a mapping', line: 6, column: 3, path: [] },
    ]);
  });

  it("a duplicate step id, at the second one", () => {
    const text = yaml("jobs:", ...job("a"), ...steps("      - id: build", "        run: x", "      - id: build", "        run: y"));
    expect(problems(parsePipeline(text))).toEqual([
      {
        message: 'jobs.a.steps[1].id: duplicate step id "build"; jobs.a.steps[0] has it already',
        line: 7,
        column: 13,
        path: ["jobs", "a", "steps", 1, "id"],
      },
    ]);
  });

  it("a duplicate made by a default id, at the step that has no id", () => {
    const text = yaml("jobs:", ...job("a"), ...steps("      - id: step-2", "        run: x", "      - run: y"));
    expect(problems(parsePipeline(text))).toEqual([
      expect.objectContaining({
        message: expect.stringContaining('duplicate step id "step-2" (this step has no id, so it gets "step-2")'),
        line: 7,
        column: 9,
      }),
    ]);
  });

  it("an unknown need, at the entry, with a suggestion", () => {
    const text = yaml(
      "jobs:",
      ...job("build"),
      ...steps("      - run: x"),
      ...job("test", "    needs: [biuld]"),
      ...steps("      - id: install", "        run: x", "      - run: y", "        needs: [install, instal]"),
    );
    expect(problems(parsePipeline(text))).toEqual([
      { message: 'jobs.test.needs[0]: unknown job "biuld" — did you mean "build"?', line: 8, column: 13, path: ["jobs", "test", "needs", 0] },
      {
        message: 'jobs.test.steps[1].needs[1]: unknown step "instal" — did you mean "install"?',
        line: 13,
        column: 26,
        path: ["jobs", "test", "steps", 1, "needs", 1],
      },
    ]);
  });

  it("a value of the wrong kind, at the value", () => {
    const text = yaml("jobs:", ...job("a", "    timeout: 10", "    retries: 11", "    priority: high"), ...steps("      - run: x"));
    expect(problems(parsePipeline(text))).toEqual([
      {
        message: 'jobs.a.timeout: duration "10" has no unit; write 10s for seconds or 10m for minutes',
        line: 4,
        column: 14,
        path: ["jobs", "a", "timeout"],
      },
      { message: "jobs.a.retries: must be a whole number from 0 to 10", line: 5, column: 14, path: ["jobs", "a", "retries"] },
      { message: 'jobs.a.priority: must be a whole number', line: 6, column: 15, path: ["jobs", "a", "priority"] },
    ]);
  });

  it("a missing required key, at the key of the mapping that lacks it", () => {
    const text = yaml("jobs:", "  a:", ...steps("      - run: x"));
    expect(problems(parsePipeline(text))).toEqual([
      { message: 'jobs.a: "runs-on" is required', line: 2, column: 3, path: ["jobs", "a", "runs-on"] },
    ]);
  });

  it("a bad template inside a block scalar, at the template itself", () => {
    const text = yaml("jobs:", ...job("a"), ...steps("      - run: |", "          echo start", "          echo ${{ github.sha }}"));
    expect(problems(parsePipeline(text))).toEqual([
      expect.objectContaining({ message: expect.stringContaining('unknown "github"'), line: 7, column: 16 }),
    ]);
  });

  it("a template in a quoted flow value, at the template itself", () => {
    const text = yaml("jobs:", ...job("a", '    outputs: { v: "x ${{ steps.nope.outputs.v }}" }'), ...steps("      - run: x"));
    expect(problems(parsePipeline(text))).toEqual([
      expect.objectContaining({ message: expect.stringContaining('unknown step "nope"'), line: 4, column: 22 }),
    ]);
  });

  it("an empty file has no place: line 0, column 0", () => {
    expect(problems(parsePipeline(""))).toEqual([
      { message: "the file is empty; a pipeline needs at least `jobs:`", line: 0, column: 0, path: [] },
    ]);
  });
});

describe("cycles", () => {
  it("among jobs: the message names the cycle, placed at the first job's need", () => {
    const text = yaml(
      "jobs:",
      ...job("a", "    needs: [b]"),
      ...steps("      - run: x"),
      ...job("b", "    needs: c"),
      ...steps("      - run: x"),
      ...job("c", "    needs: [a]"),
      ...steps("      - run: x"),
    );
    expect(problems(parsePipeline(text))).toEqual([
      { message: "jobs form a cycle: a → b → c → a", line: 4, column: 13, path: ["jobs", "a", "needs", 0] },
    ]);
  });

  it("among a job's steps, including the implicit 'needs the step before' edge", () => {
    const text = yaml("jobs:", ...job("a"), ...steps("      - id: one", "        needs: [two]", "        run: x", "      - id: two", "        run: y"));
    expect(problems(parsePipeline(text))).toEqual([
      {
        message: 'steps of job "a" form a cycle: one → two → one (a step without needs: waits for the step before it)',
        line: 6,
        column: 17,
        path: ["jobs", "a", "steps", 0, "needs", 0],
      },
    ]);
  });

  it("every separate cycle is reported", () => {
    const text = yaml(
      "jobs:",
      ...job("a", "    needs: [a]"),
      ...steps("      - run: x"),
      ...job("b", "    needs: [c]"),
      ...steps("      - run: x"),
      ...job("c", "    needs: [b]"),
      ...steps("      - run: x"),
    );
    expect(problems(parsePipeline(text)).map((p) => p.message)).toEqual([
      "jobs form a cycle: a → a",
      "jobs form a cycle: b → c → b",
    ]);
  });
});

describe("all problems are collected at once", () => {
  it("every shape problem in every job, in file order", () => {
    const text = yaml(
      "name: x",
      "jobs:",
      ...job("a", "    retries: -1", "    artifacts: [/etc/passwd, ../up]"),
      ...steps("      - run: x", "        continue-on-error: maybe"),
      "  b:",
      "    runs-on: []",
      "    steps: []",
      "on:",
      "  schedule: ['* * *', { cron: '0 0 * * MON' }]",
    );
    expect(problems(parsePipeline(text)).map((p) => [p.line, p.message])).toEqual([
      [5, "jobs.a.retries: must be a whole number from 0 to 10"],
      [6, "jobs.a.artifacts[0]: an artifact path must be relative to the working directory"],
      [6, "jobs.a.artifacts[1]: an artifact path may not contain '..'"],
      [9, 'jobs.a.steps[0].continue-on-error: expected true or false, got string "maybe"'],
      [11, "jobs.b.runs-on: list at least one label"],
      [12, "jobs.b.steps: a job needs at least one step"],
      [14, 'on.schedule[0]: "* * *" is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), not 3'],
    ]);
  });

  it("every relation problem: unknown needs, cycles and templates together", () => {
    const text = yaml(
      "env: { A: '${{ steps.x.outputs.y }}' }",
      "jobs:",
      ...job("a", "    needs: [ghost, a]"),
      ...steps("      - run: echo ${{ params.nope }} ${{ needs.b.outputs.v }}"),
      ...job("b"),
      ...steps("      - run: x"),
    );
    expect(problems(parsePipeline(text)).map((p) => p.message)).toEqual([
      "env.A: ${{ steps.x.outputs.y }}: step outputs are not available in the pipeline's env",
      'jobs.a.needs[0]: unknown job "ghost"',
      "jobs form a cycle: a → a",
      'jobs.a.steps[0].run: ${{ params.nope }}: unknown param "nope"; declare it under params:',
      'jobs.a.steps[0].run: ${{ needs.b.outputs.v }}: job "b" is not in this job\'s needs; add it there',
    ]);
  });
});

describe("steps", () => {
  it("without needs: wait for the step before; needs: [] starts at once; ids and names default", () => {
    const text = yaml("jobs:", ...job("a"), ...steps("      - run: one", "      - run: two", "        name: Second", "      - run: three", "        needs: []"));
    const [one, two, three] = ok(parsePipeline(text)).jobs[0]!.steps;
    expect([one!.id, one!.name, one!.needs]).toEqual(["step-1", "step-1", []]);
    expect([two!.id, two!.name, two!.needs]).toEqual(["step-2", "Second", ["step-1"]]);
    expect([three!.id, three!.needs]).toEqual(["step-3", []]);
  });

  it("carries step settings through", () => {
    const text = yaml(
      "jobs:",
      ...job("a"),
      ...steps("      - run: x", "        timeout: 1h30m", "        retries: 3", "        shell: bash", "        working-directory: web", "        env: { N: 1, B: false }"),
    );
    expect(ok(parsePipeline(text)).jobs[0]!.steps[0]).toMatchObject({
      timeoutMs: 5_400_000,
      retries: 3,
      shell: "bash",
      workingDirectory: "web",
      env: { N: "1", B: "false" },
    });
  });

  it("templates: a step may read the outputs of the steps it (transitively) needs, not others", () => {
    const text = yaml(
      "jobs:",
      ...job("a", "    outputs: { any: '${{ steps.c.outputs.v }}' }"),
      ...steps(
        "      - id: a1",
        "        run: x",
        "      - id: b",
        "        run: echo ${{ steps.a1.outputs.v }}",
        "      - id: c",
        "        needs: []",
        "        run: echo ${{ steps.b.outputs.v }}",
        "      - id: d",
        "        needs: [b]",
        "        run: echo ${{ steps.a1.outputs.v }} ${{ steps.d.outputs.v }}",
      ),
    );
    expect(problems(parsePipeline(text)).map((p) => p.message)).toEqual([
      'jobs.a.steps[2].run: ${{ steps.b.outputs.v }}: step "b" does not run before this one; add it to this step\'s needs',
      "jobs.a.steps[3].run: ${{ steps.d.outputs.v }}: a step cannot read its own outputs",
    ]);
  });
});

describe("jobs, triggers, params, env", () => {
  it("runs-on accepts one label or a list and is required and non-empty", () => {
    expect(ok(parsePipeline(yaml("jobs:", ...job("a"), ...steps("      - run: x")))).jobs[0]!.runsOn).toEqual(["linux"]);
    const bad = yaml("jobs:", "  a:", "    runs-on: 'has space'", ...steps("      - run: x"));
    expect(problems(parsePipeline(bad))[0]!.message).toContain("a label is 1–63 letters");
  });

  it("job outputs: needs.<job>.outputs.<key> must be declared by that job; secrets may not be copied", () => {
    const text = yaml(
      "jobs:",
      ...job("a", "    outputs: { v: '${{ steps.step-1.outputs.v }}', s: '${{ secrets.TOKEN }}' }"),
      ...steps("      - run: x"),
      ...job("b", "    needs: [a]"),
      ...steps("      - run: echo ${{ needs.a.outputs.v }} ${{ needs.a.outputs.w }}"),
    );
    expect(problems(parsePipeline(text)).map((p) => p.message)).toEqual([
      "jobs.a.outputs.s: ${{ secrets.TOKEN }}: secrets may not be copied into job outputs",
      'jobs.b.steps[0].run: ${{ needs.a.outputs.w }}: job "a" declares no output "w"',
    ]);
  });

  it("on: push with no value means every branch; pull_request with none lists none; schedule both forms", () => {
    const base = ["jobs:", ...job("a"), ...steps("      - run: x")];
    expect(ok(parsePipeline(yaml("on:", "  push:", "  pull_request:", ...base))).on).toEqual({
      push: { branches: ["**"] },
      pullRequest: { branches: [] },
    });
    const text = yaml("on:", "  push: { branches: [main, 'release/*'] }", "  schedule: ['0 3 * * MON-FRI', { cron: '*/15 * * JAN *' }]", ...base);
    expect(ok(parsePipeline(text)).on).toEqual({
      push: { branches: ["main", "release/*"] },
      schedule: ["0 3 * * MON-FRI", "*/15 * * JAN *"],
    });
    expect(ok(parsePipeline(yaml("on: [push]", ...base))).on).toEqual({ push: { branches: ["**"] } });
    expect(problems(parsePipeline(yaml("on: { pushh: }", ...base)))[0]!.message).toBe(
      'on: unknown key "pushh" — did you mean "push"?',
    );
  });

  it("params: a plain value is the default; no value means required; params are checked in templates", () => {
    const text = yaml(
      "params:",
      "  env: staging",
      "  count: 3",
      "  version:",
      "  region: { default: eu, description: Where to deploy }",
      "jobs:",
      ...job("a"),
      ...steps("      - run: echo ${{ params.env }} ${{ params.version }} ${{ run.number }} ${{ secrets.X }}"),
    );
    expect(ok(parsePipeline(text)).params).toEqual({
      env: { default: "staging" },
      count: { default: "3" },
      version: {},
      region: { default: "eu", description: "Where to deploy" },
    });
  });

  it("env: numbers and booleans become strings; names are checked", () => {
    const text = yaml("env: { A: 1.5, B: true, C: text }", "jobs:", ...job("a", "    env: { YM_OUTPUT: x }"), ...steps("      - run: x"));
    expect(problems(parsePipeline(text)).map((p) => p.message)).toEqual([
      'jobs.a.env: "YM_OUTPUT": env names starting with YM_ are reserved for Yardmaster',
    ]);
    const good = ok(parsePipeline(yaml("env: { A: 1.5, B: true, C: text }", "jobs:", ...job("a"), ...steps("      - run: x"))));
    expect(good.env).toEqual({ A: "1.5", B: "true", C: "text" });
  });

  it("job keys and step ids must be identifiers", () => {
    const text = yaml("jobs:", "  1st:", "    runs-on: x", ...steps("      - id: 'a b'", "        run: x"));
    expect(problems(parsePipeline(text))).toEqual([
      expect.objectContaining({ message: expect.stringContaining('jobs: "1st": a job key must start with a letter or _'), line: 2, column: 3 }),
    ]);
  });

  it("the pipeline name comes from the file, else from the caller, else 'pipeline'", () => {
    const body = ["jobs:", ...job("a"), ...steps("      - run: x")];
    expect(ok(parsePipeline(yaml("name: from-file", ...body), { name: "ci.act" })).name).toBe("from-file");
    expect(ok(parsePipeline(yaml(...body), { name: "ci.act" })).name).toBe("ci.act");
    expect(ok(parsePipeline(yaml(...body))).name).toBe("pipeline");
  });
});
