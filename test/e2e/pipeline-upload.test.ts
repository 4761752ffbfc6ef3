// The bootstrap pattern (docs/pipelines.md) against the real `wrangler dev`, a real agent and a
// real git repository on disk (file://): the stored pipeline is one job that checks out the
// commit and uploads `.yardmaster/build.act` from it; its jobs run in the same run and see the
// files of that commit; an uploaded file with a cycle fails the step, naming line and column.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

const BOOTSTRAP = `name: build
jobs:
  bootstrap:
    runs-on: [upload-e2e]
    steps:
      - run: yardmaster-agent pipeline upload .yardmaster/build.act
`;

const BUILD = `jobs:
  test:
    needs: [bootstrap]
    runs-on: [upload-e2e]
    steps:
      - run: echo "testing version $(cat VERSION)"
  package:
    needs: [test]
    runs-on: [upload-e2e]
    steps:
      - run: echo "packaging $(cat VERSION)"
`;

// Line 3, column 13 is the `b` in `needs: [b]`.
const CYCLE = `jobs:
  a:
    needs: [b]
    runs-on: [upload-e2e]
    steps: [{ run: echo a }]
  b:
    needs: [a]
    runs-on: [upload-e2e]
    steps: [{ run: echo b }]
`;

let cp: ControlPlane;
let repo: string;
const commits: Record<string, string> = {};

function git(...args: string[]): string {
  return execFileSync("git", args, {
    cwd: repo,
    encoding: "utf8",
    env: { ...process.env, GIT_AUTHOR_NAME: "e2e", GIT_AUTHOR_EMAIL: "e2e@example.com", GIT_COMMITTER_NAME: "e2e", GIT_COMMITTER_EMAIL: "e2e@example.com" },
  }).trim();
}

function commit(name: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) writeFileSync(join(repo, path), content);
  git("add", "-A");
  git("commit", "-q", "-m", name);
  commits[name] = git("rev-parse", "HEAD");
}

beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), "ym-upload-repo-"));
  git("init", "-q", "-b", "main");
  mkdirSync(join(repo, ".yardmaster"));
  commit("good", { VERSION: "one\n", ".yardmaster/build.act": BUILD });
  commit("cycle", { VERSION: "two\n", ".yardmaster/build.act": CYCLE });
  cp = await startControlPlane();
  expect((await cp.api("POST", "/api/v1/projects", { slug: "e2e-upload", repository: `file://${repo}` })).status).toBe(201);
  const stored = await cp.api("PUT", "/api/v1/projects/e2e-upload/pipelines/build", undefined, { raw: BOOTSTRAP, headers: { "content-type": "text/plain" } });
  expect(stored.status, stored.text).toBe(201);
  await startAgent(cp, { name: "upload-agent", labels: ["upload-e2e"] });
}, 120_000);

afterAll(async () => {
  await stopAll();
  await cp?.stop();
  if (repo) rmSync(repo, { recursive: true, force: true });
});

async function runToEnd(commit: string) {
  const run = await cp.api("POST", "/api/v1/projects/e2e-upload/pipelines/build/runs", { branch: "main", commit });
  expect(run.status, run.text).toBe(201);
  return waitFor(
    "the run to end",
    async () => {
      const view = (await cp.api("GET", `/api/v1/runs/${run.json.id}`)).json;
      return ["SUCCESS", "FAILED", "WARNING", "KILLED"].includes(view.status) && view;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}

const log = async (runId: string, job: string) => (await cp.api("GET", `/api/v1/runs/${runId}/jobs/${job}/log`)).text;

describe("pipelines from the repository", () => {
  it("the stored bootstrap uploads .yardmaster/build.act of the commit; its jobs run in the same run on that commit's files", async () => {
    const view = await runToEnd(commits.good!);
    expect(view.status).toBe("SUCCESS");
    expect(view.attempts[0].jobs.map((j: { key: string }) => j.key)).toEqual(["bootstrap", "test", "package"]);
    expect(await log(view.id, "bootstrap")).toContain("added 2 jobs to the run: test, package");
    expect(await log(view.id, "test")).toContain("testing version one");
    expect(await log(view.id, "package")).toContain("packaging one");
  }, 90_000);

  it("an uploaded file with a cycle fails the bootstrap step, naming line and column", async () => {
    const view = await runToEnd(commits.cycle!);
    expect(view.status).toBe("FAILED");
    expect(view.attempts[0].jobs.map((j: { key: string }) => j.key)).toEqual(["bootstrap"]);
    const text = await log(view.id, "bootstrap");
    expect(text).toContain(".yardmaster/build.act:3:13: jobs form a cycle: a → b → a");
  }, 90_000);
});
