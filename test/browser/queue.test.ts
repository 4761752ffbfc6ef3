// The queue page, live for everyone watching: pending jobs in claim order with their position
// and wait; drag one to the top (saved through POST /api/v1/queue/reorder, seen by a second
// viewer); move one with the keyboard; select several and cancel them at once; running jobs
// with their agent.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startAgent, startControlPlane, stopAll } from "../e2e/harness.ts";
import { closeBrowsers, launch, signedIn, type Viewer } from "./browser.ts";

// No agent carries `gpu`: these jobs wait in the queue.
const WAITING = "jobs:\n  train:\n    runs-on: [gpu]\n    steps:\n      - run: echo train\n";
const SLOW = "jobs:\n  soak:\n    runs-on: [linux]\n    steps:\n      - run: sleep 60\n";

let cp: ControlPlane;
let browser: Browser;
let alice: Viewer;
let bob: Viewer;
const runs: { id: string; number: number }[] = [];

/** The pending rows' run numbers, top to bottom, as a page shows them. */
const shownOrder = (page: Page) =>
  page.locator("[data-queue-row]").evaluateAll((rows) => rows.map((r) => Number(/#(\d+)/.exec(r.textContent ?? "")?.[1])));
const apiOrder = async () => ((await cp.api("GET", "/api/v1/queue")).json.pending as { runNumber: number }[]).map((e) => e.runNumber);

beforeAll(async () => {
  cp = await startControlPlane();
  expect((await cp.api("POST", "/api/v1/projects", { slug: "ml" })).status).toBe(201);
  for (const [name, text] of [["train", WAITING], ["soak", SLOW]]) {
    const put = await cp.api("PUT", `/api/v1/projects/ml/pipelines/${name}`, undefined, { raw: text, headers: { "content-type": "text/plain" } });
    expect(put.status).toBe(201);
  }
  for (let i = 0; i < 4; i++) {
    const run = await cp.api("POST", "/api/v1/projects/ml/pipelines/train/runs", { branch: "main" });
    runs.push({ id: run.json.id, number: run.json.number });
  }
  browser = await launch();
  alice = await signedIn(browser, cp, "/queue");
  bob = await signedIn(browser, cp, "/queue");
});

afterAll(async () => {
  await closeBrowsers();
  await cp?.stop();
  await stopAll();
});

describe("the queue page", () => {
  it("shows the pending jobs in claim order with their position and wait", async () => {
    await expect.poll(() => shownOrder(alice.page)).toEqual([1, 2, 3, 4]);
    const first = alice.page.locator("[data-queue-row]").first();
    expect(await first.locator(".queue-pos").textContent()).toBe("1");
    expect(await first.textContent()).toMatch(/\d+(\.\d)?s|\d+m/);
  });

  it("drags the last job to the top: saved, and seen by everyone watching", async () => {
    const page = alice.page;
    const handle = page.locator("[data-queue-row]").nth(3).locator(".drag-handle");
    const target = page.locator("[data-queue-row]").first();
    const from = (await handle.boundingBox())!;
    const to = (await target.boundingBox())!;
    await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await page.mouse.down();
    for (let i = 1; i <= 8; i++) await page.mouse.move(from.x + from.width / 2, from.y + ((to.y + 4 - from.y) * i) / 8);
    expect(await page.locator("tr.drop-before").count()).toBe(1);
    await page.mouse.up();

    await expect.poll(() => shownOrder(page)).toEqual([4, 1, 2, 3]);
    await expect.poll(apiOrder).toEqual([4, 1, 2, 3]);
    await expect.poll(() => shownOrder(bob.page), { timeout: 10_000 }).toEqual([4, 1, 2, 3]);
    expect(await bob.page.locator("[data-live]").getAttribute("data-live")).toBe("websocket");
  });

  it("stays right without the live stream too (polling)", async () => {
    const carol = await signedIn(browser, cp, "/queue?live=poll");
    await expect.poll(() => shownOrder(carol.page)).toEqual([4, 1, 2, 3]);
    expect(await carol.page.locator("[data-live]").getAttribute("data-live")).toBe("poll");
    await carol.context.close();
    expect(carol.problems).toEqual([]);
  });

  it("moves a job with the keyboard too", async () => {
    await alice.page.locator("[data-queue-row]").nth(2).locator(".drag-handle").press("ArrowUp");
    await expect.poll(apiOrder).toEqual([4, 2, 1, 3]);
    await expect.poll(() => shownOrder(bob.page), { timeout: 10_000 }).toEqual([4, 2, 1, 3]);
  });

  it("cancels several selected jobs at once", async () => {
    const page = bob.page;
    await page.getByRole("checkbox", { name: `Select train of run #${runs[1]!.number}` }).check();
    await page.getByRole("checkbox", { name: `Select train of run #${runs[2]!.number}` }).check();
    await page.getByRole("button", { name: "Cancel selected (2)" }).click();
    const dialog = page.getByRole("dialog");
    // The native <dialog> opens (showModal) in an effect after the click's render: wait for it.
    await dialog.waitFor();
    expect(await dialog.locator("li").count()).toBe(2);
    await dialog.getByRole("button", { name: "Cancel jobs" }).click();

    await expect.poll(() => shownOrder(page)).toEqual([4, 1]);
    await expect.poll(() => shownOrder(alice.page), { timeout: 10_000 }).toEqual([4, 1]);
    expect(await apiOrder()).toEqual([4, 1]);
    for (const run of [runs[1]!, runs[2]!]) expect((await cp.api("GET", `/api/v1/runs/${run.id}`)).json.status).toBe("KILLED");
  });

  it("shows a running job with its agent", async () => {
    await startAgent(cp, { name: "soaker", labels: ["linux"] });
    const run = await cp.api("POST", "/api/v1/projects/ml/pipelines/soak/runs", {});
    const row = alice.page.locator("[data-running-row]", { hasText: "soak" });
    await row.waitFor({ timeout: 30_000 });
    expect(await row.textContent()).toContain("soaker");
    await cp.api("POST", `/api/v1/runs/${run.json.id}/cancel`, {});
    await row.waitFor({ state: "detached", timeout: 30_000 });
  });

  it("met no script error on the way", () => {
    expect(alice.problems).toEqual([]);
    expect(bob.problems).toEqual([]);
  });
});
