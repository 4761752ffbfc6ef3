// Accessibility: axe-core (WCAG 2 A and AA rules) finds nothing on any page of the dashboard,
// in the light theme and in the dark one. axe is injected by playwright into each page (a context
// with `bypassCSP: true`: the dashboard's Content-Security-Policy allows no foreign script).
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "../e2e/harness.ts";
import { violations } from "./axe.ts";
import { closeBrowsers, launch, signIn } from "./browser.ts";

const BUILD = `jobs:
  compile:
    runs-on: [linux]
    steps:
      - id: setup
        run: |
          echo "version=1.2.3" >> "$YM_OUTPUT"
          echo "files=42" >> "$YM_METRICS"
          mkdir -p dist && echo app > dist/app.txt
    artifacts: [dist/**]
  check:
    needs: [compile]
    runs-on: [linux]
    steps:
      - id: verify
        run: test "$YM_RUN_ATTEMPT" != 1 || test "\${{ params.fail }}" != yes
params:
  fail: { default: "no" }
`;
// No agent carries `gpu`: this job waits in the queue (and the queue page says why).
const WAITING = "jobs:\n  train:\n    runs-on: [gpu]\n    steps:\n      - run: echo train\n";

let cp: ControlPlane;
let browser: Browser;
const ids: { passed?: string; failed?: string } = {};

/** Each page, with what shows once its data has arrived. */
const pages = (): { path: string; ready: string }[] => [
  { path: "/runs", ready: "[data-run-row], .runs-table tbody tr" },
  { path: `/runs/${ids.failed}`, ready: "[data-node]" },
  { path: `/runs/${ids.passed}`, ready: "[data-node]" },
  { path: `/runs/${ids.failed}/compare`, ready: ".compare-table" },
  { path: "/projects", ready: "main .cards li" },
  { path: "/projects/web", ready: "main table" },
  { path: "/projects/web/pipelines/build", ready: ".editor[data-ready] .cm-content, figure.trend" },
  { path: "/projects/web/new-pipeline", ready: "main h1" },
  { path: "/queue", ready: "[data-queue-row]" },
  { path: "/artifacts", ready: "main table" },
  { path: "/agents", ready: "main table" },
];

beforeAll(async () => {
  cp = await startControlPlane();
  await startAgent(cp, { name: "builder-1", labels: ["linux"] });
  expect((await cp.api("POST", "/api/v1/projects", { slug: "web" })).status).toBe(201);
  for (const [name, text] of [["build", BUILD], ["train", WAITING]]) {
    const put = await cp.api("PUT", `/api/v1/projects/web/pipelines/${name}`, undefined, { raw: text, headers: { "content-type": "text/plain" } });
    expect(put.status, JSON.stringify(put.json)).toBe(201);
  }
  for (const fail of ["no", "yes"]) {
    const run = await cp.api("POST", "/api/v1/projects/web/pipelines/build/runs", { branch: "main", params: { fail } });
    expect(run.status, JSON.stringify(run.json)).toBe(201);
    if (fail === "no") ids.passed = run.json.id;
    else ids.failed = run.json.id;
    await waitFor("the run to end", async () => /SUCCESS|FAILED/.test((await cp.api("GET", `/api/v1/runs/${run.json.id}`)).json.status), { timeoutMs: 60_000 });
  }
  await cp.api("POST", "/api/v1/projects/web/pipelines/train/runs", { branch: "main" });
  browser = await launch();
});

afterAll(async () => {
  await closeBrowsers();
  await cp?.stop();
  await stopAll();
});

describe("axe finds no WCAG 2 A/AA violation", () => {
  for (const theme of ["light", "dark"] as const) {
    it(`on any page in the ${theme} theme`, async () => {
      const context = await browser.newContext({ baseURL: cp.url, bypassCSP: true, colorScheme: theme, viewport: { width: 1280, height: 860 } });
      context.setDefaultTimeout(20_000);
      const page = await context.newPage();
      await page.goto("/");
      await page.getByLabel("Token").waitFor();
      const found: Record<string, string[]> = { "/ (sign-in)": await violations(page) };
      await signIn(page, cp.adminToken);
      for (const { path, ready } of pages()) {
        await page.goto(path);
        await page.locator(ready).first().waitFor().catch((e: Error) => {
          throw new Error(`${path}: ${e.message}`);
        });
        const v = await violations(page);
        if (v.length > 0) found[path] = v;
      }
      await context.close();
      expect(Object.fromEntries(Object.entries(found).filter(([, v]) => v.length > 0))).toEqual({});
    });
  }
});
