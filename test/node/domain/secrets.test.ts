import { describe, expect, it } from "vitest";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";
import { referencedSecrets } from "../../../domain/secrets.ts";

describe("referencedSecrets", () => {
  it("lists every secret a pipeline renders, from pipeline env to step working directories, once each", () => {
    const parsed = parsePipeline(
      `name: deploy
env: { A: "\${{ secrets.TOP }}" }
jobs:
  build:
    runs-on: [linux]
    env: { B: "\${{ secrets.JOB_ENV }}" }
    steps:
      - id: one
        run: echo \${{ secrets.IN_RUN }} \${{ secrets.TOP }}
        env: { C: "\${{ secrets.STEP_ENV }}" }
        working-directory: "dirs/\${{ secrets.WORKDIR }}"
      - run: echo \${{ params.p }} \${{ run.branch }}
    outputs: { o: "\${{ steps.one.outputs.x }}" }
params: { p: x }
`,
      { name: "deploy" },
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    expect(referencedSecrets(parsed.pipeline)).toEqual(["IN_RUN", "JOB_ENV", "STEP_ENV", "TOP", "WORKDIR"]);
  });
});
