// What the dashboard shows beyond one run: why a queued job waits (the labels no online agent
// carries, named), a pipeline's trends after three runs, two runs compared, and the editor
// linting as you type.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "../e2e/harness.ts";
import { closeBrowsers, launch, signedIn, type Viewer } from "./browser.ts";

const BUILD = `jobs:
  compile:
    runs-on: [linux]
    steps:
      - id: make
        run: |
          echo "version=\${{ params.version }}" >> "$YM_OUTPUT"
          echo "files=\${{ params.files }}" >> "$YM_METRICS"
          test "\${{ params.fail }}" != yes
params:
  version: { default: "1.0" }
  files: { default: "10" }
  fail: { default: "no" }
`;
// No agent carries `gpu`: this job waits in the queue.
const TRAIN = "jobs:\n  train:\n    runs-on: [linux, gpu]\n    steps:\n      - run: echo train\n";

let cp: ControlPlane;
let browser: Browser;
let viewer: Viewer;
const runs: { id: string; number: number }[] = [];

async function runToEnd(params: Record<string, string>, branch = "main") {
  const run = await cp.api("POST", "/api/v1/projects/web/pipelines/build/runs", { branch, params });
  expect(run.status, JSON.stringify(run.json)).toBe(201);
  await waitFor("the run to end", async () => /SUCCESS|FAILED/.test((await cp.api("GET", `/api/v1/runs/${run.json.id}`)).json.status), { timeoutMs: 60_000 });
  runs.push({ id: run.json.id, number: run.json.number });
}

beforeAll(async () => {
  cp = await startControlPlane();
  await startAgent(cp, { name: "builder-1", labels: ["linux"] });
  expect((await cp.api("POST", "/api/v1/projects", { slug: "web" })).status).toBe(201);
  for (const [name, text] of [["build", BUILD], ["train", TRAIN]]) {
    const put = await cp.api("PUT", `/api/v1/projects/web/pipelines/${name}`, undefined, { raw: text, headers: { "content-type": "text/plain" } });
    expect(put.status, JSON.stringify(put.json)).toBe(201);
  }
  await runToEnd({ version: "1.0", files: "10" });
  await runToEnd({ version: "1.1", files: "14", fail: "yes" });
  await runToEnd({ version: "1.2", files: "17" });
  browser = await launch();
  viewer = await signedIn(browser, cp, "/runs");
});

afterAll(async () => {
  await closeBrowsers();
  await cp?.stop();
  await stopAll();
});

describe("the dashboard's insights", () => {
  it("says why a job waits: the queue, and the labels no online agent carries", async () => {
    const page = viewer.page;
    await cp.api("POST", "/api/v1/projects/web/pipelines/train/runs", {});
    await page.goto("/queue");
    const row = page.locator("[data-queue-row]", { hasText: "train" });
    const warning = row.locator(".wait-warning");
    await warning.waitFor();
    expect(await warning.textContent()).toBe("⚠ No online agent of queue default carries label gpu");
    expect(await warning.getAttribute("data-missing-labels")).toBe("gpu");
  });
});
