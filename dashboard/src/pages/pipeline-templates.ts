/**
 * Starting points for a new pipeline in the editor. The bootstrap is the recommended setup
 * (docs/pipelines.md, "Pipelines from the repository"): the pipeline lives in the repository
 * as `.yardmaster/<name>.act`, and the stored pipeline only uploads it from the commit.
 */
export interface PipelineTemplate {
  id: string;
  label: string;
  hint: string;
  text: (name: string) => string;
}

export const PIPELINE_TEMPLATES: readonly PipelineTemplate[] = [
  {
    id: "bootstrap",
    label: "From the repository (recommended)",
    hint: "One job checks out the commit and uploads .yardmaster/<name>.act from it: the pipeline lives next to the code.",
    text: (name) => `name: ${name || "build"}
on: { push: { branches: [main] }, pull_request: {} }
jobs:
  bootstrap:
    runs-on: [linux]
    steps:
      - run: yardmaster-agent pipeline upload .yardmaster/${name || "build"}.act
`,
  },
  {
    id: "inline",
    label: "Stored here",
    hint: "The whole pipeline is kept in Yardmaster.",
    text: (name) => `name: ${name || "build"}
jobs:
  test:
    runs-on: [linux]
    steps:
      - id: install
        run: npm ci
      - id: test
        run: npm test
`,
  },
];
