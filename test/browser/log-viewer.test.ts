// The log viewer against real logs: every byte of log text stays text (a line can never inject
// markup or script), 100s of lines are virtualised, line numbers link to #L<n>, search finds and
// highlights, the raw log downloads byte for byte, and a running job's tail is followed.
import { readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startAgent, startControlPlane, stopAll } from "../e2e/harness.ts";
import { closeBrowsers, launch, signedIn, type Viewer } from "./browser.ts";

const HOSTILE_LINES = [
  `<script>window.__pwned = "script"</script>`,
  `<img src=x onerror="window.__pwned = 'img'">`,
  `"><svg onload="window.__pwned = 'svg'"></svg>`,
  `<a href="javascript:window.__pwned='a'">click</a> &amp; &lt;b&gt;`,
];
// OSC 8 hyperlinks: a javascript: one (must not become a link) and an https one (may).
const OSC8 = String.raw`printf '\033]8;;javascript:window.__pwned=1\007bad link\033]8;;\007 and \033]8;;https://example.com/x\007good link\033]8;;\007\n'`;

const PIPELINE = `jobs:
  noisy:
    runs-on: [linux]
    steps:
      - id: hostile
        run: |
${HOSTILE_LINES.map((l) => `          printf '%s\\n' '${l.replace(/'/g, "'\\''")}'`).join("\n")}
          ${OSC8}
          printf '\\033[1;31m<b>red and bold</b>\\033[0m\\n'
      - id: many
        run: |
          for i in $(seq 1 3000); do
            if [ $((i % 500)) -eq 0 ]; then echo "line $i has the needle"; else echo "line $i of output"; fi
          done
  tail:
    runs-on: [linux]
    steps:
      - run: for i in $(seq 1 40); do echo "tick $i"; sleep 0.25; done
`;

let cp: ControlPlane;
let browser: Browser;
let viewer: Viewer;
let page: Page;
let runId: string;

beforeAll(async () => {
  cp = await startControlPlane();
  await startAgent(cp, { name: "logger", labels: ["linux"], concurrency: 2 });
  expect((await cp.api("POST", "/api/v1/projects", { slug: "logs" })).status).toBe(201);
  const put = await cp.api("PUT", "/api/v1/projects/logs/pipelines/noise", undefined, { raw: PIPELINE, headers: { "content-type": "text/plain" } });
  expect(put.status, put.text).toBe(201);
  runId = (await cp.api("POST", "/api/v1/projects/logs/pipelines/noise/runs", {})).json.id;
  browser = await launch();
  viewer = await signedIn(browser, cp, `/runs/${runId}?job=tail`);
  page = viewer.page;
});

afterAll(async () => {
  await closeBrowsers();
  await cp?.stop();
  await stopAll();
});

const scroller = () => page.locator(".log-scroll");

describe("the log viewer", () => {
  it("follows a running job's tail", async () => {
    await page.locator(".log-row", { hasText: "tick 3" }).waitFor({ timeout: 30_000 });
    expect(await page.getByRole("button", { name: "Follow" }).getAttribute("aria-pressed")).toBe("true");
    // Later lines keep arriving and stay in view at the bottom.
    await page.locator(".log-row", { hasText: "tick 30" }).waitFor({ timeout: 20_000 });
    const atBottom = () => scroller().evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 25);
    expect(await atBottom()).toBe(true);
    // Scrolling up stops following.
    await scroller().hover();
    await page.mouse.wheel(0, -2000);
    await expect.poll(() => page.getByRole("button", { name: "Follow" }).getAttribute("aria-pressed")).toBe("false");
  });

  it("shows hostile log text as text: no markup, no script, no javascript: link", async () => {
    await page.goto(`/runs/${runId}?job=noisy`);
    // The job has ended: the whole log is there, shown from its top.
    await expect.poll(() => page.locator(".log-lines").textContent(), { timeout: 30_000 }).toMatch(/3,0\d\d lines/);
    for (const line of HOSTILE_LINES) await page.locator(".log-text", { hasText: line }).first().waitFor();
    const found = await page.evaluate(() => {
      const log = document.querySelector(".log-scroll")!;
      const tags = new Set([...log.querySelectorAll(".log-text *")].map((e) => e.tagName.toLowerCase()));
      return {
        tags: [...tags].sort(),
        dangerous: log.querySelectorAll("script, img, svg, iframe, object, embed").length,
        hrefs: [...log.querySelectorAll(".log-text a")].map((a) => a.getAttribute("href")),
        handlers: [...log.querySelectorAll(".log-text *")].flatMap((e) => [...e.attributes].map((a) => a.name)).filter((n) => n.startsWith("on")),
        pwned: (window as unknown as { __pwned?: unknown }).__pwned ?? null,
      };
    });
    expect(found.dangerous).toBe(0);
    expect(found.handlers).toEqual([]);
    expect(found.pwned).toBeNull();
    expect(found.hrefs).toEqual(["https://example.com/x"]);
    expect(found.tags.every((t) => ["span", "a", "mark"].includes(t))).toBe(true);
    const red = page.locator(".log-text .ansi-red-fg", { hasText: "<b>red and bold</b>" });
    expect(await red.count()).toBe(1);
    // The page itself forbids inline script (defence in depth).
    const csp = (await page.request.get("/")).headers()["content-security-policy"];
    expect(csp).toContain("script-src 'self'");
  });

  it("keeps only the rows in view in the page", async () => {
    expect(await page.locator(".log-lines").textContent()).toMatch(/3,0\d\d lines/);
    expect(await page.locator(".log-row").count()).toBeLessThan(150);
    await scroller().evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.locator(".log-row", { hasText: "line 3000 has the needle" }).waitFor();
    expect(await page.locator(".log-row").count()).toBeLessThan(150);
  });

  it("links to a line, and opens at that line", async () => {
    await scroller().evaluate((el) => (el.scrollTop = 0));
    await page.locator('.log-row[data-line="12"] .log-ln').click();
    expect(new URL(page.url()).hash).toBe("#L12");
    expect(await page.locator('.log-row[data-line="12"]').getAttribute("class")).toContain("is-selected");

    await page.goto(`/runs/${runId}?job=noisy#L1800`);
    const row = page.locator('.log-row[data-line="1800"]');
    await row.waitFor({ timeout: 20_000 });
    expect(await row.getAttribute("class")).toContain("is-selected");
    expect(await row.isVisible()).toBe(true);
  });

  it("searches: counts, highlights, next and previous", async () => {
    const search = page.getByRole("searchbox", { name: "Search the log" });
    await search.fill("NEEDLE");
    await expect.poll(() => page.locator(".log-count").textContent()).toBe("1 / 6");
    const current = page.locator(".log-row.is-current");
    expect(await current.locator("mark").textContent()).toBe("needle");
    expect(await current.textContent()).toContain("line 500 has");
    await search.press("Enter");
    await expect.poll(() => page.locator(".log-count").textContent()).toBe("2 / 6");
    await expect.poll(() => page.locator(".log-row.is-current").textContent()).toContain("line 1000 has");
    await page.getByRole("button", { name: "Previous match" }).click();
    await page.getByRole("button", { name: "Previous match" }).click();
    await expect.poll(() => page.locator(".log-count").textContent()).toBe("6 / 6");
    await expect.poll(() => page.locator(".log-row.is-current").textContent()).toContain("line 3000 has");
  });

  it("downloads the raw log, byte for byte", async () => {
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator(".log-toolbar").getByRole("link", { name: "Download" }).click()]);
    const bytes = readFileSync((await download.path())!);
    const api = await fetch(`${cp.url}/api/v1/runs/${runId}/jobs/noisy/log`, { headers: { authorization: `Bearer ${cp.adminToken}` } });
    expect(Buffer.compare(bytes, Buffer.from(await api.arrayBuffer()))).toBe(0);
    expect(bytes.toString()).toContain(HOSTILE_LINES[0]);
  });

  it("without the live stream (polling), follows a running tail asking only for the bytes it lacks", async () => {
    const second = (await cp.api("POST", "/api/v1/projects/logs/pipelines/noise/runs", {})).json.id as string;
    const ranges: string[] = [];
    const listener = (request: { url(): string; headers(): Record<string, string> }) => {
      if (request.url().includes(`/runs/${second}/jobs/tail/log`)) ranges.push(request.headers()["range"] ?? "(none)");
    };
    page.on("request", listener);
    try {
      await page.goto(`/runs/${second}?job=tail&live=poll`);
      expect(await page.locator("[data-live]").first().getAttribute("data-live")).toBe("poll");
      await page.locator(".log-row", { hasText: "tick 40" }).waitFor({ timeout: 30_000 });
      // Every line once, in order, although the log was read a piece at a time.
      const ticks = await page.locator(".log-row").evaluateAll((rows) => rows.map((r) => r.textContent ?? "").filter((t) => /tick \d+$/.test(t)));
      expect(ticks.map((t) => Number(t.match(/tick (\d+)$/)![1]))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(ranges.some((r) => /^bytes=[1-9]\d*-$/.test(r)), ranges.join(", ")).toBe(true);
    } finally {
      page.off("request", listener);
    }
  });

  it("met no script error on the way", () => {
    expect(viewer.problems).toEqual([]);
  });
});
