// What the dashboard shows beyond one run: why a queued job waits (the labels no online agent
// carries, named), a pipeline's trends after three runs, two runs compared, and the editor
// linting as you type.
import type { Browser } from "playwright-core";
import examples from "@octokit/webhooks-examples";
import { sign } from "@octokit/webhooks-methods";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "../e2e/harness.ts";
import { closeBrowsers, launch, lintedLines, signedIn, type Viewer } from "./browser.ts";

const BUILD = `jobs:
  compile:
    runs-on: [linux]
    steps:
      - id: make
        run: |
          echo "version=\${{ params.version }}" >> "$YM_OUTPUT"
          echo "files=\${{ params.files }}" >> "$YM_METRICS"
          test "\${{ params.fail }}" != yes
    gates:
      - metric: make.files
        max: 15
params:
  version: { default: "1.0" }
  files: { default: "10" }
  fail: { default: "no" }
`;
const WEBHOOK_SECRET = "insights-webhook-secret-0123456789";
// No agent carries `gpu`: this job waits in the queue.
const TRAIN = "jobs:\n  train:\n    runs-on: [linux, gpu]\n    steps:\n      - run: echo train\n";

let cp: ControlPlane;
let browser: Browser;
let viewer: Viewer;
const runs: { id: string; number: number }[] = [];

async function runToEnd(params: Record<string, string>, branch = "main") {
  const run = await cp.api("POST", "/api/v1/projects/web/pipelines/build/runs", { branch, params });
  expect(run.status, JSON.stringify(run.json)).toBe(201);
  await waitFor("the run to end", async () => /SUCCESS|WARNING|FAILED/.test((await cp.api("GET", `/api/v1/runs/${run.json.id}`)).json.status), { timeoutMs: 60_000 });
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

  it("lints the pipeline file as you type, at the right line; the editor loads only there", async () => {
    const page = viewer.page;
    await page.goto("/runs");
    await page.locator(".runs-table").waitFor();
    const loadedEditor = () => page.evaluate(() => performance.getEntriesByType("resource").some((e) => /codemirror/.test(e.name)));
    expect(await loadedEditor()).toBe(false);

    await page.goto("/projects/web/new-pipeline");
    await page.locator(".editor-toolbar").getByLabel("Name").fill("lint-me");
    const editor = page.getByLabel("Pipeline file");
    await editor.fill("jobs:\n  compile:\n    runs-on: [linux]\n    steps:\n      - run: make\n");
    expect(await loadedEditor()).toBe(true);
    await expect.poll(() => lintedLines(page)).toEqual([]);
    // Line 3: type a letter before `runs-on`, a key the format does not know.
    await page.locator(".cm-line").nth(2).click();
    await page.keyboard.press("Home");
    await page.keyboard.type("x");
    await expect.poll(() => lintedLines(page)).toContain(3);
    await page.keyboard.press("Backspace");
    await expect.poll(() => lintedLines(page)).toEqual([]);
  });

  it("completes job ids in `needs:` and the keys a job may have", async () => {
    const page = viewer.page;
    await page.getByLabel("Pipeline file").fill("jobs:\n  compile:\n    runs-on: [linux]\n    steps:\n      - run: make\n  test:\n    needs: [co\n    ti\n");
    const options = page.locator(".cm-tooltip-autocomplete li");
    await page.locator(".cm-line").nth(6).click();
    await page.keyboard.press("End");
    await page.keyboard.press("Control+Space");
    await expect.poll(() => options.allTextContents()).toEqual([expect.stringContaining("compile")]);
    await options.filter({ hasText: "compile" }).click();
    await expect.poll(() => page.locator(".cm-line").nth(6).textContent()).toBe("    needs: [compile");
    await page.locator(".cm-line").nth(7).click();
    await page.keyboard.press("End");
    await page.keyboard.press("Control+Space");
    // "ti" also matches other keys loosely (artifacts, retries): timeout is among them.
    await expect.poll(async () => (await options.allTextContents()).some((o) => o.startsWith("timeout"))).toBe(true);
  });

  it("charts the last runs' durations, outcomes and metrics, with labels and a table; a point opens its run", async () => {
    const page = viewer.page;
    await page.goto("/projects/web/pipelines/build");
    const duration = page.locator('figure[data-chart="Duration"]');
    await duration.waitFor();
    expect(await duration.getByRole("img").getAttribute("aria-label")).toMatch(/^Duration of the last 3 runs of build, from .+ to .+; each point coloured by its outcome \(2 succeeded, 1 did not\)$/);
    expect(await duration.locator("circle.trend-point").count()).toBe(3);
    expect(await duration.locator("circle.tone-failed").count()).toBe(1);
    const files = page.locator('figure[data-chart="compile.make.files"]');
    expect(await files.getByRole("img").getAttribute("aria-label")).toBe("Metric compile.make.files over the last 3 runs of build, from 10 to 17");
    expect(await files.locator("tbody tr").evaluateAll((rows) => rows.map((r) => r.textContent))).toEqual([
      `#${runs[0]!.number}Succeeded10`,
      `#${runs[1]!.number}Failed14`,
      `#${runs[2]!.number}Succeeded17`,
    ]);
    expect(await page.locator(".trend-summary").textContent()).toContain("2 of 3 ended runs succeeded");
    await files.locator("circle.trend-point").nth(1).click();
    await page.waitForURL((url) => url.pathname === `/runs/${runs[1]!.id}`);
  });

  it("compares a run with the last successful one of its pipeline and branch, differences marked; another can be picked", async () => {
    const page = viewer.page;
    await page.goto(`/runs/${runs[2]!.id}`);
    await page.getByRole("link", { name: "Compare…" }).click();
    await page.waitForURL((url) => url.pathname === `/runs/${runs[2]!.id}/compare`);
    const table = page.locator(".compare-table");
    await table.waitFor();
    const row = (name: string) => page.locator(`[data-compare-row="${name}"]`);
    const cells = (name: string) => row(name).locator("td").evaluateAll((tds) => tds.slice(0, 2).map((td) => td.textContent));
    // The second run failed: the last success on main before the third is the first.
    expect(await page.locator("thead").textContent()).toContain(`#${runs[0]!.number}`);
    expect(await cells("Params/files")).toEqual(["17", "10"]);
    expect(await row("Params/files").getAttribute("data-differs")).toBe("true");
    expect(await cells("Job compile/make: output version")).toEqual(["1.2", "1.0"]);
    expect(await cells("Job compile/make: metric files")).toEqual(["17", "10"]);
    expect(await row("Job compile/make: metric files").locator(".compare-mark").textContent()).toBe("≠");
    expect(await row("Run/Status").getAttribute("data-differs")).toBeNull();
    expect(await page.locator(".compare-summary").textContent()).toMatch(/\d+ differences \(marked ≠\)/);

    await page.getByLabel("Compare with").selectOption(runs[1]!.id);
    await expect.poll(() => cells("Run/Status")).toEqual(["Succeeded", "Failed"]);
    expect(await row("Run/Status").getAttribute("data-differs")).toBe("true");
    expect(new URL(page.url()).searchParams.get("with")).toBe(runs[1]!.id);
  });

  it("cancels several selected runs at once from the runs page", async () => {
    const page = viewer.page;
    const waiting = [];
    for (let i = 0; i < 2; i++) waiting.push((await cp.api("POST", "/api/v1/projects/web/pipelines/train/runs", {})).json);
    await page.goto("/runs");
    for (const run of waiting) await page.getByRole("checkbox", { name: `Select run #${run.number}` }).check();
    // An ended run has nothing to cancel: no checkbox.
    expect(await page.getByRole("checkbox", { name: `Select run #${runs[0]!.number}` }).count()).toBe(0);
    await page.getByRole("button", { name: "Cancel selected (2)" }).click();
    const dialog = page.getByRole("dialog", { name: "Cancel 2 runs?" });
    // Newest first, as listed.
    await expect.poll(() => dialog.locator("li").allTextContents()).toEqual([...waiting].reverse().map((r) => `train #${r.number} · web`));
    await dialog.getByRole("button", { name: "Cancel runs" }).click();
    for (const run of waiting) {
      await waitFor("the run to be cancelled", async () => (await cp.api("GET", `/api/v1/runs/${run.id}`)).json.status === "KILLED");
    }
  });

  it("offers the branches of earlier runs and webhook deliveries in the Run dialog", async () => {
    const page = viewer.page;
    await runToEnd({}, "release/2.0");
    // A signed push to a branch no pipeline starts on: nothing runs, yet the branch is offered.
    expect((await cp.api("PATCH", "/api/v1/projects/web", { webhookSecret: WEBHOOK_SECRET })).status).toBe(200);
    const push = structuredClone(((examples as unknown as { name: string; examples: any[] }[]).find((e) => e.name === "push")!.examples).find((p) => p.ref === "refs/heads/master"));
    const body = JSON.stringify({ ...push, ref: "refs/heads/hotfix/from-webhook" });
    const delivered = await fetch(`${cp.url}/api/v1/webhooks/github/web`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": "insights-1", "x-hub-signature-256": await sign(WEBHOOK_SECRET, body) },
      body,
    });
    expect(delivered.status, await delivered.clone().text()).toBe(200);
    await page.goto("/projects/web/pipelines/build");
    await page.getByRole("button", { name: "▶ Run" }).click();
    const options = page.locator("#run-branches option");
    await expect.poll(() => options.evaluateAll((o) => o.map((x) => (x as HTMLOptionElement).value))).toEqual(["hotfix/from-webhook", "release/2.0", "main"]);
    expect(await page.getByLabel("Branch").getAttribute("list")).toBe("run-branches");
  });

  it("shows a metric gate's breach on the run page", async () => {
    const page = viewer.page;
    // The third run reported files=17 against `max: 15`: a warning, named.
    await page.goto(`/runs/${runs[2]!.id}?job=compile`);
    const message = page.locator(".job-message");
    await message.waitFor();
    expect(await message.textContent()).toBe("gate make.files: 17 is above the max 15");
    expect(await page.locator('[data-node="job:compile"]').getAttribute("data-state")).toBe("WARNING");
  });

  it("met no script error on the way", () => {
    expect(viewer.problems).toEqual([]);
  });
});
