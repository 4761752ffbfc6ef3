// The dashboard's log view fed the hostile output of test/support/hostile-bytes.ts by a real
// agent — every byte, C0/C1 controls, CSI/OSC/DCS sequences (window title, javascript: OSC 8
// links, clipboard writes), invalid UTF-8, HTML and script: watched live as it arrives, then
// read back from storage, it renders inert. No element, handler or link is injected, no script
// runs (`window.__pwned` stays unset), the title, the URL and the page's own styles are
// untouched, and the markup is shown as text. (The API's bytes: test/e2e/log-bytes.test.ts.)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "../e2e/harness.ts";
import { HTML_ATTACKS, hostilePayload, printStep } from "../support/hostile-bytes.ts";
import { closeBrowsers, launch, signedIn, type Viewer } from "./browser.ts";

let cp: ControlPlane;
let browser: Browser;
let viewer: Viewer;
let page: Page;
let runId: string;
let dir: string;

beforeAll(async () => {
  cp = await startControlPlane();
  dir = mkdtempSync(join(tmpdir(), "ym-bytes-"));
  const payload = hostilePayload();
  writeFileSync(join(dir, "first.bin"), payload.first);
  writeFileSync(join(dir, "second.bin"), payload.second);
  expect((await cp.api("POST", "/api/v1/projects", { slug: "inert" })).status).toBe(201);
  // Slow enough (a pause before and after) for the page to be open while the bytes arrive live.
  const run = `sleep 3; ${printStep(join(dir, "first.bin"), join(dir, "second.bin"))}; sleep 1`;
  const pipeline = `name: inert\njobs:\n  print:\n    runs-on: [inert]\n    steps:\n      - id: hostile\n        run: ${JSON.stringify(run)}\n`;
  const put = await cp.api("PUT", "/api/v1/projects/inert/pipelines/inert", undefined, { raw: pipeline, headers: { "content-type": "text/plain" } });
  expect(put.status, put.text).toBe(201);
  runId = (await cp.api("POST", "/api/v1/projects/inert/pipelines/inert/runs", {})).json.id;
  browser = await launch();
  viewer = await signedIn(browser, cp, `/runs/${runId}?job=print`);
  page = viewer.page;
  await startAgent(cp, { name: "inert", labels: ["inert"] });
});

afterAll(async () => {
  await closeBrowsers();
  await stopAll();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * What the page looks like to an attacker hoping something ran, over the whole log: the view
 * keeps only the rows in sight in the page, so it is scrolled from top to bottom and every
 * screenful is looked at.
 */
function scan(p: Page) {
  return p.evaluate(async () => {
    const log = document.querySelector<HTMLElement>(".log-scroll")!;
    const seen = { tags: new Set<string>(), handlers: [] as string[], hrefs: new Set<string>(), injected: 0, text: "" };
    for (let y = 0; ; y += Math.max(50, log.clientHeight - 40)) {
      log.scrollTop = y;
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(null))));
      const inLog = [...log.querySelectorAll(".log-text *")];
      for (const e of inLog) {
        seen.tags.add(e.tagName.toLowerCase());
        seen.handlers.push(...[...e.attributes].map((a) => a.name).filter((n) => n.startsWith("on")));
        if (e.tagName === "A") seen.hrefs.add(e.getAttribute("href") ?? "");
      }
      seen.injected += document.querySelectorAll("#injected, iframe, object, embed, meta[http-equiv], .log-scroll script, .log-scroll img, .log-scroll svg, .log-scroll style").length;
      seen.text += log.textContent ?? "";
      if (y >= log.scrollHeight) break;
    }
    return {
      ...seen,
      tags: [...seen.tags].sort(),
      hrefs: [...seen.hrefs],
      pwned: (window as unknown as { __pwned?: unknown }).__pwned ?? null,
      title: document.title,
      url: location.href,
      bodyShown: getComputedStyle(document.body).display !== "none",
    };
  });
}

async function expectInert(p: Page, url: string) {
  const seen = await scan(p);
  expect(seen.pwned).toBeNull();
  expect(seen.title).not.toMatch(/pwned|another title/);
  expect(seen.url).toBe(url);
  expect(seen.bodyShown).toBe(true);
  expect(seen.injected).toBe(0);
  expect(seen.handlers).toEqual([]);
  expect(seen.tags.every((t) => ["span", "a", "mark"].includes(t)), seen.tags.join(",")).toBe(true);
  // Only the https OSC 8 link may be a link; the javascript: one is text.
  expect(seen.hrefs.every((h) => h === "https://example.com/ok"), seen.hrefs.join(",")).toBe(true);
  // The markup is there, as text; so is the character split across two chunks, put back together.
  for (const html of HTML_ATTACKS) expect(seen.text).toContain(html);
  expect(seen.text).toContain(`${Buffer.from([0xf0, 0x9f, 0x9a, 0x82]).toString("utf8")} (a rocket)`);
}

describe("hostile log bytes in the dashboard", () => {
  it("render inert while they arrive live", async () => {
    const url = page.url();
    await page.locator(".log-text", { hasText: "the end, no newline" }).first().waitFor({ timeout: 90_000 });
    await expectInert(page, url);
  });

  it("render inert read back from storage once the job has ended", async () => {
    await waitFor("the run to end", async () => (await cp.api("GET", `/api/v1/runs/${runId}`)).json.status === "SUCCESS", { timeoutMs: 60_000 });
    await page.reload();
    const url = page.url();
    await page.locator(".log-text", { hasText: "== every byte ==" }).first().waitFor({ timeout: 30_000 });
    await expectInert(page, url);
  });

  it("met no script error, dialog or navigation on the way", () => {
    expect(viewer.problems).toEqual([]);
  });
});
