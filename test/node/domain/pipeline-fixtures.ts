/** Pipeline files and helpers shared by the parser tests. */
import type { ParseResult, Pipeline, PipelineProblem } from "../../../domain/pipeline/types.ts";
import { step as normalisedStep } from "../../support/pipelines.ts";

/** Joins lines, so that line numbers in the tests are easy to count. */
export const yaml = (...lines: string[]) => lines.join("\n") + "\n";

export function ok(result: ParseResult): Pipeline {
  if (!result.ok) throw new Error(`expected a pipeline, got: ${JSON.stringify(result.problems, null, 2)}`);
  return result.pipeline;
}

export function problems(result: ParseResult): PipelineProblem[] {
  if (result.ok) throw new Error("expected problems, got a pipeline");
  return result.problems;
}

/** The smallest valid job, to build tests around. */
export const job = (key: string, ...extra: string[]) => [`  ${key}:`, "    runs-on: linux", ...extra];
export const steps = (...lines: string[]) => ["    steps:", ...lines];

/** A step as the parser gives it, every default filled in. */
export const step = (id: string, run: string, needs: string[], extra: object = {}) => normalisedStep(id, needs, { run, ...extra });

// The example of DESIGN.md §2, verbatim.
export const DESIGN_EXAMPLE = `name: build
env: { CI: "true" }
jobs:
  test:
    runs-on: [linux, node]        # the agent must carry every label
    priority: 0                   # higher is claimed first; then queue position, then age
    timeout: 10m
    retries: 2                    # job attempts after the first
    steps:
      - id: install
        run: npm ci
      - id: unit
        needs: [install]
        run: npm test
      - id: lint
        needs: [install]
        run: npm run lint
        continue-on-error: true    # a failure here makes the job WARNING, not FAILED
    outputs: { version: "\${{ steps.install.outputs.version }}" }
    artifacts: [coverage/**]
    lineage: { inputs: [{ namespace: "s3://raw", name: "events" }], outputs: [] }
  deploy:
    needs: [test]
    runs-on: [linux]
    steps:
      - run: ./deploy.sh \${{ needs.test.outputs.version }}
`;
