// The dashboard in Firefox (Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core,
// since playwright-core cannot drive a stock Firefox): sign in, open a finished run, and see its
// graph, its coloured log and its live connection; the pipeline page's trends chart and editor;
// two runs compared. The full flows run in Chromium (the other files here); this proves the same
// pages work in the second engine users have.
import { existsSync } from "node:fs";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "../e2e/harness.ts";

const FIREFOX = process.env.FIREFOX_PATH ?? "/usr/bin/firefox-esr";
const PIPELINE = `jobs:
  build:
    runs-on: [linux]
    steps:
      - id: compile
        run: printf '\\033[32mcompiled in firefox test\\033[0m\\n'
  test:
    needs: [build]
    runs-on: [linux]
    steps:
      - run: echo tested
`;

let cp: ControlPlane;
let browser: Browser;
let page: Page;
let runId: string;
let second: { id: string; number: number };
let first: { number: number };

beforeAll(async () => {
  if (!existsSync(FIREFOX)) throw new Error(`Firefox not found at ${FIREFOX}: apt-get install firefox-esr (.ci/run does)`);
  cp = await startControlPlane();
  await startAgent(cp, { name: "fox", labels: ["linux"] });
  await cp.api("POST", "/api/v1/projects", { slug: "fox" });
  await cp.api("PUT", "/api/v1/projects/fox/pipelines/build", undefined, { raw: PIPELINE, headers: { "content-type": "text/plain" } });
  runId = (await cp.api("POST", "/api/v1/projects/fox/pipelines/build/runs", { branch: "main" })).json.id;
  await waitFor("the run to succeed", async () => (await cp.api("GET", `/api/v1/runs/${runId}`)).json.status === "SUCCESS", { timeoutMs: 60_000 });
  first = (await cp.api("GET", `/api/v1/runs/${runId}`)).json;
  // A second run, for the trends and the compare page.
  second = (await cp.api("POST", "/api/v1/projects/fox/pipelines/build/runs", { branch: "main" })).json;
  await waitFor("the second run to succeed", async () => (await cp.api("GET", `/api/v1/runs/${second.id}`)).json.status === "SUCCESS", { timeoutMs: 60_000 });
  browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: { "network.captive-portal-service.enabled": false, "app.update.enabled": false },
  });
  page = await browser.newPage();
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await stopAll();
  await cp?.stop();
});

describe("the dashboard in Firefox", () => {
  it("signs in with a token", async () => {
    await page.goto(`${cp.url}/runs`);
    const input = await page.waitForSelector("input[name=token]");
    await input!.type(cp.adminToken);
    await page.click("form button[type=submit]");
    await page.waitForSelector("nav[aria-label='Main']");
    expect(page.url()).not.toContain(cp.adminToken);
  });

  it("shows a run: its graph, its coloured log and its live connection", async () => {
    await page.goto(`${cp.url}/runs/${runId}`);
    await page.waitForSelector(".runpage");
    await page.waitForSelector('[data-node="job:build"]');
    await page.waitForSelector('[data-node="step:build/compile"]');
    await page.waitForSelector('[data-node="job:test"]');
    const badge = await page.$eval(".run-title .badge", (el) => el.textContent ?? "");
    expect(badge).toContain("Succeeded");
    await page.click('[data-node="job:build"]');
    const green = await page.waitForSelector(".log-row .ansi-green-fg");
    expect(await green!.evaluate((el) => el.textContent)).toBe("compiled in firefox test");
    await waitFor("the live connection", async () => (await page.$eval("[data-live]", (el) => el.getAttribute("data-live"))) === "websocket", {
      timeoutMs: 15_000,
    });
  });

  it("shows the pipeline page: its trends chart and the editor", async () => {
    await page.goto(`${cp.url}/projects/fox/pipelines/build`);
    await page.waitForSelector('figure[data-chart="Duration"] [role="img"]');
    const label = await page.$eval('figure[data-chart="Duration"] [role="img"]', (el) => el.getAttribute("aria-label") ?? "");
    expect(label).toMatch(/^Duration of the last 2 runs of build, /);
    expect((await page.$$('figure[data-chart="Duration"] circle.trend-point')).length).toBe(2);
    await page.waitForSelector(".cm-editor .cm-line");
    const text = await page.$eval(".cm-editor .cm-content", (el) => el.textContent ?? "");
    expect(text).toContain("compiled in firefox test");
  });

  it("compares two runs", async () => {
    await page.goto(`${cp.url}/runs/${second.id}/compare?with=${runId}`);
    await page.waitForSelector('.compare-table [data-compare-row="Run/Status"]');
    const head = await page.$eval(".compare-table thead", (el) => el.textContent ?? "");
    expect(head).toContain(`#${second.number}`);
    expect(head).toContain(`#${first.number}`);
    const status = await page.$$eval('[data-compare-row="Run/Status"] td', (tds) => tds.slice(0, 2).map((td) => td.textContent));
    expect(status).toEqual(["Succeeded", "Succeeded"]);
  });
});
