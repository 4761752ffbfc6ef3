// Re-run one job of a successful run from the run page: the chosen job and the job that needs it
// run again in a new attempt, which the page follows to its end.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "../e2e/harness.ts";
import { closeBrowsers, launch, signedIn, type Viewer } from "./browser.ts";

const PIPELINE = `jobs:
  a:
    runs-on: [linux]
    steps:
      - run: echo a
  b:
    needs: [a]
    runs-on: [linux]
    steps:
      - run: echo b
`;

let cp: ControlPlane;
let browser: Browser;
let viewer: Viewer;
let runId: string;

beforeAll(async () => {
  cp = await startControlPlane();
  await startAgent(cp, { name: "rerunner", labels: ["linux"] });
  expect((await cp.api("POST", "/api/v1/projects", { slug: "rr" })).status).toBe(201);
  const put = await cp.api("PUT", "/api/v1/projects/rr/pipelines/ab", undefined, { raw: PIPELINE, headers: { "content-type": "text/plain" } });
  expect(put.status, JSON.stringify(put.json)).toBe(201);
  const run = await cp.api("POST", "/api/v1/projects/rr/pipelines/ab/runs", { branch: "main" });
  expect(run.status, JSON.stringify(run.json)).toBe(201);
  runId = run.json.id;
  await waitFor("the run to succeed", async () => (await cp.api("GET", `/api/v1/runs/${runId}`)).json.status === "SUCCESS", { timeoutMs: 60_000 });
  browser = await launch();
  viewer = await signedIn(browser, cp, `/runs/${runId}?job=a`);
});

afterAll(async () => {
  await closeBrowsers();
  await cp?.stop();
  await stopAll();
});

describe("re-running one job from the run page", () => {
  it("re-runs job a of a successful run and the job that needs it, in a new attempt the page follows", async () => {
    const page = viewer.page;
    await page.locator('.runpage[data-attempt="1"]').waitFor();
    await page.getByRole("button", { name: "Re-run job a" }).click();
    const dialog = page.getByRole("dialog", { name: "Re-run job a?" });
    await dialog.getByRole("button", { name: "Re-run", exact: true }).click();

    // The page follows the new attempt to its end.
    await page.locator('.runpage[data-attempt="2"]').waitFor();
    await expect.poll(() => page.locator(".run-title .badge").textContent(), { timeout: 60_000, interval: 250 }).toContain("Succeeded");
    expect(new URL(page.url()).searchParams.get("attempt")).toBeNull();

    const run = (await cp.api("GET", `/api/v1/runs/${runId}`)).json;
    expect(run.status).toBe("SUCCESS");
    expect(run.attempts.map((a: { number: number }) => a.number)).toEqual([1, 2]);
    const jobs = run.attempts[1].jobs as { key: string; status: string; reused: unknown; attempts: unknown[] }[];
    // Both ran again (b needs a): neither was carried over from attempt 1.
    expect(jobs.map((j) => [j.key, j.status, j.reused ?? null, j.attempts.length])).toEqual([
      ["a", "SUCCESS", null, 1],
      ["b", "SUCCESS", null, 1],
    ]);
    // Ended again: the button is back, for the job shown.
    await page.getByRole("button", { name: "Re-run job a" }).waitFor();
  });

  it("met no script error on the way", () => {
    expect(viewer.problems).toEqual([]);
  });
});
