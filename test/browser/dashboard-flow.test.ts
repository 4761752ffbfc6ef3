// A person's path through the dashboard, in Chromium against the real `wrangler dev` and a real
// agent: sign in; create a project and a pipeline (its error shown at its line first); click
// Run; watch the graph's nodes turn running then succeeded and log lines arrive live in colour;
// read the outputs and metrics; re-run the failed jobs and switch attempts; find the artifact
// and download its bytes; see the agent and the run in their lists.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, type ControlPlane, startAgent, startControlPlane, stopAll } from "../e2e/harness.ts";
import { caretLine, closeBrowsers, launch, lintedLines, open, signIn, type Viewer } from "./browser.ts";

const BROKEN = `name: build
jobs:
  compile:
    runs-on: [linux]
    steps:
      - id: setup
        run: echo hi
  check:
    needs: [compile, lint]
    runs-on: [linux]
    steps:
      - run: echo checking
`;

const PIPELINE = `name: build
jobs:
  compile:
    runs-on: [linux]
    steps:
      - id: setup
        run: |
          printf '\\033[32mcompiling sources\\033[0m\\n'
          echo "version=1.2.3" >> "$YM_OUTPUT"
          echo "files=42" >> "$YM_METRICS"
          sleep 4
      - id: package
        run: |
          mkdir -p dist
          printf 'artifact of run %s\\n' "$YM_RUN_ID" > dist/app.txt
          echo packaged
    artifacts: [dist/**]
  check:
    needs: [compile]
    runs-on: [linux]
    steps:
      - id: verify
        run: |
          if [ "$YM_RUN_ATTEMPT" = "1" ]; then printf '\\033[31mflaky failure\\033[0m\\n'; exit 3; fi
          echo "passed on attempt $YM_RUN_ATTEMPT"
`;

let cp: ControlPlane;
let agent: AgentProcess;
let browser: Browser;
let viewer: Viewer;
let page: Page;
let runId: string;

const node = (id: string) => page.locator(`[data-node="${id}"]`);
const stateOf = (id: string) => node(id).getAttribute("data-state");
/** A job's box holds its steps: click its header, as a person would. */
const clickJob = (key: string) => node(`job:${key}`).click({ position: { x: 40, y: 14 } });

beforeAll(async () => {
  cp = await startControlPlane();
  agent = await startAgent(cp, { name: "builder-1", labels: ["linux"] });
  browser = await launch();
  viewer = await open(browser, cp, "/");
  page = viewer.page;
});

afterAll(async () => {
  await closeBrowsers();
  await cp?.stop();
  await stopAll();
});

describe("the dashboard, end to end", () => {
  it("signs in with a token kept only in an HttpOnly cookie", async () => {
    await page.getByLabel("Token").fill("not-a-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("unknown, revoked or expired");

    await signIn(page, cp.adminToken);
    // Signed in at "/", the dashboard moves to the runs (a replace, after the first paint).
    await page.waitForURL((url) => url.pathname === "/runs", { timeout: 10_000 });
    expect(page.url()).not.toContain(cp.adminToken);
    const cookie = (await viewer.context.cookies()).find((c) => c.name === "ym_session");
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
    const visible = await page.evaluate(() => ({ cookie: document.cookie, storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) }));
    expect(visible.cookie).not.toContain("ym_session");
    expect(visible.storage).not.toContain(cp.adminToken);
  });

  it("creates a project", async () => {
    await page.getByRole("link", { name: "Projects", exact: true }).click();
    await page.getByRole("button", { name: "New project" }).click();
    await page.getByLabel("Slug").fill("web");
    await page.getByLabel("Name").fill("Web shop");
    await page.getByRole("button", { name: "Create project" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("webhook secret");
    await page.getByRole("link", { name: "Open the project →" }).click();
    await page.getByRole("heading", { name: "Web shop" }).waitFor();
  });

  it("shows a refused pipeline's problems at their line, then saves the fixed file", async () => {
    // The header's link (the empty project's text links to the same editor).
    await page.getByRole("link", { name: "New pipeline" }).first().click();
    await page.locator(".editor-toolbar").getByLabel("Name").fill("build");
    const editor = page.getByLabel("Pipeline file");
    await editor.fill(BROKEN);
    await page.getByRole("button", { name: "Save" }).click();
    const problems = page.locator(".problems");
    await expect.poll(() => problems.textContent()).toContain("lint");
    // The browser logs the refusal (400) itself; nothing else may go wrong on the way.
    expect(viewer.problems.splice(0)).toEqual(["console: Failed to load resource: the server responded with a status of 400 (Bad Request)"]);
    // `needs: [compile, lint]` is line 9: the problem names it, and its line is marked.
    expect(await problems.textContent()).toMatch(/line 9, column \d+/);
    await expect.poll(() => lintedLines(page)).toEqual([9]);
    // Clicking the problem puts the caret on that line.
    await problems.getByRole("button", { name: /line 9/ }).click();
    expect(await caretLine(page)).toBe(9);

    await editor.fill(PIPELINE);
    await page.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("Saved as version 1");
    await expect.poll(() => new URL(page.url()).pathname).toBe("/projects/web/pipelines/build");
    expect(await lintedLines(page)).toEqual([]);
  });

  it("runs it from the Run button and opens the new run", async () => {
    await page.getByRole("link", { name: "web", exact: true }).click();
    await page.getByRole("button", { name: "▶ Run" }).first().click();
    const dialog = page.getByRole("dialog");
    expect(await dialog.getByLabel("Pipeline").inputValue()).toBe("build");
    await dialog.getByLabel("Branch").fill("feature/login");
    await dialog.getByRole("button", { name: "▶ Run" }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    runId = new URL(page.url()).pathname.split("/").pop()!;
    await page.locator(".runpage").waitFor();
    expect(await page.locator(".facts").textContent()).toContain("feature/login");
    await expect.poll(() => page.locator("[data-live]").getAttribute("data-live")).toBe("websocket");
  });

  it("turns the graph's nodes running then succeeded, with the log live and in colour", async () => {
    await expect.poll(() => stateOf("job:compile"), { timeout: 30_000 }).toBe("RUNNING");
    await expect.poll(() => stateOf("step:compile/setup"), { timeout: 15_000 }).toBe("RUNNING");
    expect(await node("job:compile").getAttribute("class")).toContain("tone-running");
    // The log line arrives while the step is still running, with its colour.
    const line = page.locator(".log-row", { hasText: "compiling sources" });
    await line.waitFor({ timeout: 15_000 });
    expect(await stateOf("step:compile/setup")).toBe("RUNNING");
    expect(await line.locator(".ansi-green-fg").textContent()).toBe("compiling sources");
    // The run's duration ticks while it runs.
    const duration = page.getByTestId("run-duration");
    const before = await duration.textContent();
    await expect.poll(() => duration.textContent(), { timeout: 5_000 }).not.toBe(before);

    await expect.poll(() => stateOf("job:compile"), { timeout: 30_000 }).toBe("SUCCESS");
    expect(await stateOf("step:compile/setup")).toBe("SUCCESS");
    expect(await stateOf("step:compile/package")).toBe("SUCCESS");
    await expect.poll(() => stateOf("job:check"), { timeout: 30_000 }).toBe("FAILED");
    await expect.poll(() => page.locator(".run-title .badge").textContent()).toContain("Failed");
  });

  it("opens a job's log from the graph, with each step's outputs and metrics", async () => {
    await clickJob("check");
    await expect.poll(() => page.locator(".log-row", { hasText: "flaky failure" }).count()).toBe(1);
    expect(await page.locator(".log-row", { hasText: "flaky failure" }).locator(".ansi-red-fg").count()).toBe(1);

    await node("step:compile/setup").click();
    const setup = page.locator('tr[data-step="setup"]');
    await expect.poll(() => setup.textContent()).toContain("version1.2.3");
    expect(await setup.textContent()).toContain("files42");
    // The step's section of the log is in view.
    await page.locator(".log-row", { hasText: "▶ step setup (attempt 1)" }).waitFor();
  });

  it("re-runs the failed jobs as attempt 2 and switches back to attempt 1", async () => {
    await page.getByRole("button", { name: /^↻ Re-run/ }).click(); // the run's menu, not a job's "Re-run job …"
    await page.getByRole("menuitem", { name: /Re-run failed jobs/ }).click();
    await expect.poll(() => page.locator(".runpage").getAttribute("data-attempt")).toBe("2");
    await expect.poll(() => stateOf("job:check"), { timeout: 45_000 }).toBe("SUCCESS");
    await expect.poll(() => page.locator(".run-title .badge").textContent()).toContain("Succeeded");
    // compile's result was kept from attempt 1.
    await clickJob("compile");
    await expect.poll(() => page.locator(".jobpanel").textContent()).toContain("Kept from attempt 1");

    await page.getByLabel("Run attempt").selectOption("1");
    await expect.poll(() => page.locator(".runpage").getAttribute("data-attempt")).toBe("1");
    await expect.poll(() => new URL(page.url()).searchParams.get("attempt")).toBe("1");
    expect(await stateOf("job:check")).toBe("FAILED");
    expect(await page.locator(".run-title .badge").textContent()).toContain("Failed");
  });

  it("lists the run with its status, branch, trigger and attempt", async () => {
    await page.getByRole("link", { name: "Runs", exact: true }).click();
    const row = page.locator(`tr[data-run="${runId}"]`);
    await expect.poll(() => row.getAttribute("data-status")).toBe("SUCCESS");
    const text = await row.textContent();
    expect(text).toContain("feature/login");
    expect(text).toContain("manual");
    // Columns: the bulk-cancel checkbox (empty for an ended run), status, run, pipeline, branch, commit, trigger, duration, attempt.
    expect(await row.locator("td").nth(8).textContent()).toBe("2");
    // Filters narrow the list and live in the URL.
    await page.locator(".filters").getByLabel("Status").selectOption("Failed");
    await expect.poll(() => page.locator(`tr[data-run="${runId}"]`).count()).toBe(0);
    await expect.poll(() => new URL(page.url()).searchParams.get("status")).toBe("Failed");
  });

  it("finds the artifact and downloads the right bytes", async () => {
    await page.getByRole("link", { name: "Artifacts" }).click();
    await page.getByLabel("Search").fill("app.txt");
    const row = page.locator('tr[data-artifact="dist/app.txt"]').first();
    await row.waitFor();
    const shown = await row.locator(".sha").getAttribute("title");
    const [download] = await Promise.all([page.waitForEvent("download"), row.getByRole("link", { name: "Download" }).click()]);
    const bytes = readFileSync((await download.path())!);
    expect(bytes.toString()).toMatch(/^artifact of run [0-9a-f-]{36}\n$/);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(shown);
    expect(download.suggestedFilename()).toBe("app.txt");
  });

  it("shows the agent with its labels, version and state", async () => {
    await page.getByRole("link", { name: "Agents" }).click();
    const row = page.locator('tr[data-agent="builder-1"]');
    await row.waitFor();
    expect(await row.getAttribute("data-state")).toBe("idle");
    expect(await row.textContent()).toContain("linux");
  });

  it("met no script error on the way", () => {
    expect(viewer.problems).toEqual([]);
    expect(agent.process.exitCode).toBeNull();
  });
});
