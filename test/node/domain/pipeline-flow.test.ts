/** Parsing flow control: `if:` on jobs and steps, and the retry policy (issue 17). */
import { describe, expect, it } from "vitest";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";
import type { ParseResult, Pipeline, PipelineProblem } from "../../../domain/pipeline/types.ts";

const yaml = (...lines: string[]) => lines.join("\n") + "\n";

function ok(result: ParseResult): Pipeline {
  if (!result.ok) throw new Error(`expected a pipeline, got: ${JSON.stringify(result.problems, null, 2)}`);
  return result.pipeline;
}
function problems(result: ParseResult): Omit<PipelineProblem, "path">[] {
  if (result.ok) throw new Error("expected problems, got a pipeline");
  return result.problems.map(({ message, line, column }) => ({ message, line, column }));
}

describe("if: on jobs and steps", () => {
  it("keeps the condition as written on the job and the step", () => {
    const p = ok(
      parsePipeline(
        yaml(
          "params: { env: prod }",
          "jobs:",
          "  build:",
          "    runs-on: linux",
          "    outputs: { version: '${{ steps.v.outputs.version }}' }",
          "    steps:",
          "      - id: v",
          "        run: echo",
          "  deploy:",
          "    needs: build",
          "    if: ${{ run.branch == 'main' && needs.build.outputs.version != '' && params.env == 'prod' }}",
          "    runs-on: linux",
          "    steps:",
          "      - id: a",
          "        run: a",
          "      - run: b",
          "        if: failure() || steps.a.outputs.x == '1' || steps.a.result == 'failure'",
          "  cleanup:",
          "    needs: [deploy]",
          "    if: false",
          "    runs-on: linux",
          "    steps: [{ run: c }]",
        ),
      ),
    );
    expect(p.jobs[1]!.if).toBe("${{ run.branch == 'main' && needs.build.outputs.version != '' && params.env == 'prod' }}");
    expect(p.jobs[1]!.steps[1]!.if).toBe("failure() || steps.a.outputs.x == '1' || steps.a.result == 'failure'");
    expect(p.jobs[1]!.steps[0]!).not.toHaveProperty("if");
    expect(p.jobs[0]!).not.toHaveProperty("if");
    expect(p.jobs[2]!.if).toBe("false");
  });

  it("refuses a condition that does not parse, at its line and column", () => {
    const text = yaml(
      "jobs:",
      "  a:",
      "    runs-on: linux",
      "    if: ${{ run.branch = 'main' }}",
      "    steps:",
      "      - run: x",
      "        if: \"success() &&\"",
    );
    expect(problems(parsePipeline(text))).toEqual([
      { message: "jobs.a.if: use == to compare (= alone is not an operator)", line: 4, column: 24 },
      { message: expect.stringContaining("jobs.a.steps[0].if: expected a value"), line: 7, column: 25 },
    ]);
  });

  it("refuses contexts that do not exist where the condition is evaluated", () => {
    const text = yaml(
      "jobs:",
      "  a:",
      "    runs-on: linux",
      "    steps: [{ run: x }]",
      "  b:",
      "    runs-on: linux",
      "    if: needs.a.result == 'success' || params.nope == 1 || secrets.TOKEN == '' || matrix.os == 'x' || steps.s.result == 'x'",
      "    steps:",
      "      - id: s",
      "        run: x",
      "      - run: y",
      "        if: steps.later.result == 'success' || run.nope == 1 || needs.a.outputs.v == 1",
      "      - id: later",
      "        run: z",
    );
    expect(problems(parsePipeline(text))).toEqual([
      { message: `jobs.b.if: job "a" is not in this job's needs; add it there`, line: 7, column: 9 },
      { message: `jobs.b.if: unknown param "nope"; declare it under params:`, line: 7, column: 40 },
      { message: "jobs.b.if: secrets may not be used in conditions", line: 7, column: 60 },
      { message: "jobs.b.if: this job has no matrix", line: 7, column: 83 },
      { message: "jobs.b.if: steps.* is only available in a step's condition", line: 7, column: 103 },
      { message: `jobs.b.steps[1].if: step "later" does not run before this one; add it to this step's needs`, line: 12, column: 13 },
      { message: expect.stringContaining(`jobs.b.steps[1].if: unknown run field "nope"`), line: 12, column: 48 },
      { message: `jobs.b.steps[1].if: job "a" is not in this job's needs; add it there`, line: 12, column: 65 },
    ]);
  });
});

describe("retries: a number or a policy", () => {
  it("reads the long form, and a number as the limit alone", () => {
    const p = ok(
      parsePipeline(
        yaml(
          "jobs:",
          "  a:",
          "    runs-on: linux",
          "    retries: { limit: 2, backoff: 10s, on: [failure, lost], exit-codes: [75, 1] }",
          "    steps: [{ run: x }]",
          "  b:",
          "    runs-on: linux",
          "    retries: 3",
          "    steps: [{ run: x }]",
          "  c:",
          "    runs-on: linux",
          "    retries: { limit: 1, on: timeout }",
          "    steps: [{ run: x }]",
        ),
      ),
    );
    expect(p.jobs[0]).toMatchObject({ retries: 2, retryPolicy: { backoffMs: 10_000, on: ["failure", "lost"], exitCodes: [75, 1] } });
    expect(p.jobs[1]!.retries).toBe(3);
    expect(p.jobs[1]).not.toHaveProperty("retryPolicy");
    expect(p.jobs[2]).toMatchObject({ retries: 1, retryPolicy: { backoffMs: 0, on: ["timeout"], exitCodes: null } });
  });

  it("says what is wrong with a policy, where", () => {
    const text = yaml(
      "jobs:",
      "  a:",
      "    runs-on: linux",
      "    retries: { limit: 2, backoff: 2d, on: [failure, crash] }",
      "    steps: [{ run: x }]",
      "  b:",
      "    runs-on: linux",
      "    retries: { limit: 11, exit-codes: [1], on: lost, delay: 1s }",
      "    steps: [{ run: x }]",
    );
    expect(problems(parsePipeline(text))).toEqual([
      { message: "jobs.a.retries.backoff: a backoff is from 0s to 1d", line: 4, column: 35 },
      { message: "jobs.a.retries.on[1]: expected one of failure, lost, timeout", line: 4, column: 53 },
      { message: "jobs.b.retries.limit: must be a whole number from 0 to 10", line: 8, column: 23 },
      { message: expect.stringContaining(`jobs.b.retries: unknown key "delay"`), line: 8, column: 54 },
    ]);
    const mismatch = yaml("jobs:", "  a:", "    runs-on: linux", "    retries: { limit: 1, exit-codes: [1], on: lost }", "    steps: [{ run: x }]");
    expect(problems(parsePipeline(mismatch))).toEqual([
      { message: "jobs.a.retries.exit-codes: exit-codes choose which failures are retried; add failure to on:", line: 4, column: 38 },
    ]);
  });
});

describe("matrix", () => {
  const matrixFile = (matrix: string, ...rest: string[]) =>
    yaml(
      "jobs:",
      "  test:",
      `    matrix: ${matrix}`,
      "    runs-on: ['${{ matrix.os }}']",
      "    env: { NODE: '${{ matrix.node }}' }",
      "    if: matrix.os != 'mac' || success()",
      "    steps:",
      "      - run: echo node ${{ matrix.node }} on ${{ matrix.os }}",
      "  deploy:",
      "    needs: test",
      "    if: needs.test.result == 'success'",
      "    runs-on: linux",
      "    steps: [{ run: deploy }]",
      ...rest,
    );

  it("makes one job per combination, minus exclude, plus include; needs wait for every instance", () => {
    const p = ok(parsePipeline(matrixFile(`{ os: [linux, mac], node: ["20", 22], exclude: [{ os: mac, node: "20" }], include: [{ os: win, node: "22" }, { os: linux, extra: "x" }], max-parallel: 2 }`)));
    expect(p.jobs.map((j) => j.key)).toEqual(["test (linux, 20, x)", "test (linux, 22, x)", "test (mac, 22)", "test (win, 22)", "deploy"]);
    const [first, , mac] = p.jobs;
    expect(first).toMatchObject({
      runsOn: ["linux"],
      env: { NODE: "20" },
      steps: [{ run: "echo node 20 on linux" }],
      matrix: { job: "test", values: { os: "linux", node: "20", extra: "x" }, maxParallel: 2 },
      if: "matrix.os != 'mac' || success()",
    });
    expect(mac!.runsOn).toEqual(["mac"]);
    expect(p.jobs[4]!.needs).toEqual(["test (linux, 20, x)", "test (linux, 22, x)", "test (mac, 22)", "test (win, 22)"]);
  });

  it("refuses too many combinations, unknown matrix keys, and matrix outside a matrix job", () => {
    const values = (n: number) => `[${Array.from({ length: n }, (_, i) => i).join(", ")}]`;
    const big = `{ os: ${values(16)}, node: ${values(20)} }`;
    expect(problems(parsePipeline(matrixFile(big)))).toEqual([
      { message: "jobs.test.matrix: the matrix makes 320 combinations; the limit is 256", line: 3, column: 13 },
    ]);
    // Past 4096 before exclude, nothing is multiplied out.
    const huge = `{ os: ${values(100)}, node: ${values(100)}, exclude: [{ os: "1" }] }`;
    expect(problems(parsePipeline(matrixFile(huge)))[0]!.message).toContain("make 10000 combinations");
    const wrong = yaml(
      "jobs:",
      "  a:",
      "    matrix: { os: [linux] }",
      "    runs-on: '${{ matrix.arch }}'",
      "    outputs: { v: x }",
      "    steps: [{ run: 'echo ${{ matrix.os }}' }]",
      "  b:",
      "    needs: a",
      "    runs-on: '${{ matrix.os }}'",
      "    steps: [{ run: 'echo ${{ needs.a.outputs.v }}' }]",
    );
    expect(problems(parsePipeline(wrong))).toEqual([
      { message: `jobs.a.runs-on[0]: \${{ matrix.arch }}: the matrix has no key "arch"; it has os`, line: 4, column: 14 },
      { message: "jobs.b.runs-on[0]: ${{ matrix.os }}: this job has no matrix", line: 9, column: 14 },
      { message: `jobs.b.steps[0].run: \${{ needs.a.outputs.v }}: job "a" has a matrix: its outputs are per instance, and needs.* cannot name one`, line: 10, column: 26 },
    ]);
  });

  it("refuses a value that does not make a label", () => {
    expect(problems(parsePipeline(matrixFile(`{ os: ["two words"], node: [1] }`)))).toEqual([
      { message: `jobs.test.runs-on[0]: test (two words, 1): "two words" (from the matrix) is not a label: 1–63 letters, digits, '_', '.', ':' or '-'`, line: 4, column: 15 },
    ]);
  });
});

describe("approval jobs", () => {
  it("reads type: approval with its prompt, typed inputs and timeout; needs.<job>.outputs reads the inputs", () => {
    const p = ok(
      parsePipeline(
        yaml(
          "jobs:",
          "  approve:",
          "    type: approval",
          "    approval: { prompt: 'Ship it?', inputs: { reason: { type: string }, n: { type: number, default: 2 } }, timeout: 1h }",
          "  deploy:",
          "    needs: approve",
          "    runs-on: linux",
          "    steps: [{ run: 'echo ${{ needs.approve.outputs.reason }}' }]",
        ),
      ),
    );
    expect(p.jobs[0]).toMatchObject({
      key: "approve",
      runsOn: [],
      steps: [],
      approval: { prompt: "Ship it?", inputs: { reason: { type: "string", required: true }, n: { type: "number", required: false, default: "2" } }, timeoutMs: 3_600_000 },
    });
  });

  it("refuses steps, runs-on and a missing prompt on an approval job, and approval: elsewhere", () => {
    const text = yaml(
      "jobs:",
      "  a:",
      "    type: approval",
      "    runs-on: linux",
      "    steps: [{ run: x }]",
      "    approval: { prompt: ok, inputs: { b: { type: boolean, default: maybe } } }",
      "  b:",
      "    type: approval",
      "  c:",
      "    runs-on: linux",
      "    approval: { prompt: ok }",
      "    steps: [{ run: x }]",
    );
    expect(problems(parsePipeline(text))).toEqual([
      { message: "jobs.a.runs-on: an approval job needs no agent: leave out runs-on", line: 4, column: 14 },
      { message: "jobs.a.steps: an approval job runs no steps: leave out steps", line: 5, column: 12 },
      { message: "jobs.a.approval.inputs.b.default: the default of a boolean input must be true or false", line: 6, column: 68 },
      { message: "jobs.b.type: an approval job needs approval: {prompt: …}", line: 8, column: 11 },
      { message: "jobs.c.approval: approval: is for a job with type: approval", line: 11, column: 15 },
    ]);
  });
});
