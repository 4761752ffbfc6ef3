// Benchmark (not a test): the run page with a 100,000-line log. A real agent prints the log
// into a real `wrangler dev`; then Chromium opens the job's page, signed in, several times.
// Printed: navigation → first log lines painted (the goal: under a second on this machine),
// → every line loaded, and the frame times while scrolling through the whole log.
//
//   node bench/log-first-paint.ts            (from the repository root; Node 24)
//   LINES=200000 RUNS=7 node bench/log-first-paint.ts
import { chromium } from "playwright-core";
import { startAgent, startControlPlane, stopAll, waitFor } from "../test/e2e/harness.ts";

const LINES = Number(process.env.LINES ?? 100_000);
const RUNS = Number(process.env.RUNS ?? 5);

const PIPELINE = `jobs:
  big:
    runs-on: [bench]
    steps:
      - id: print
        run: |
          i=1
          while [ $i -le ${LINES} ]; do
            if [ $((i % 25)) -eq 0 ]; then printf '\\033[31merror\\033[0m line %d: something \\033[1mfailed\\033[0m here\\n' $i
            else printf '\\033[32m✓\\033[0m line %d of the build output, long enough to look like a real log line\\n' $i; fi
            i=$((i + 1))
          done
`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const cp = await startControlPlane();
try {
  await startAgent(cp, { name: "bench", labels: ["bench"] });
  await cp.api("POST", "/api/v1/projects", { slug: "bench" });
  await cp.api("PUT", "/api/v1/projects/bench/pipelines/big", undefined, { raw: PIPELINE, headers: { "content-type": "text/plain" } });
  const run = (await cp.api("POST", "/api/v1/projects/bench/pipelines/big/runs", {})).json;
  await waitFor("the job to end", async () => (await cp.api("GET", `/api/v1/runs/${run.id}`)).json.status === "SUCCESS", { timeoutMs: 300_000, intervalMs: 500 });
  const log = await cp.api("GET", `/api/v1/runs/${run.id}/jobs/big/log`);
  const lines = log.text.split("\n").length - 1;
  console.log(`log: ${lines.toLocaleString()} lines, ${(Buffer.byteLength(log.text) / 1024 / 1024).toFixed(1)} MB`);

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ baseURL: cp.url, viewport: { width: 1280, height: 900 } });
  // Signed in once (the cookie), like a person coming back to the dashboard.
  const sign = await context.request.post("/api/v1/session", { data: { token: cp.adminToken } });
  if (!sign.ok()) throw new Error(`sign-in failed: ${sign.status()}`);
  // Checks every frame: the first one with log rows on screen, and the first with every line.
  await context.addInitScript((expected: number) => {
    const w = window as unknown as { __firstRows?: number; __allRows?: number };
    const shown = () => Number((document.querySelector(".log-lines")?.textContent ?? "0").replace(/[^0-9]/g, ""));
    const frame = () => {
      const now = performance.now();
      if (w.__firstRows === undefined && document.querySelector(".log-row")) w.__firstRows = now;
      if (w.__firstRows !== undefined && shown() >= expected) w.__allRows = now;
      if (w.__allRows === undefined) requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }, LINES);

  const MARKS = ["ym:run-view", "ym:log-request", "ym:log-first-chunk"] as const;
  const marks: Record<string, number[]> = Object.fromEntries(MARKS.map((m) => [m, []]));
  const first: number[] = [];
  const all: number[] = [];
  const fcp: number[] = [];
  let frames: number[] = [];
  for (let i = 0; i < RUNS + 1; i++) {
    const page = await context.newPage();
    // Every other visit without the live stream (polling), to compare.
    await page.goto(`/runs/${run.id}?job=big${i % 2 ? "&live=poll" : ""}`);
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(e.message));
    page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    try {
      await page.waitForFunction(() => (window as unknown as { __allRows?: number }).__allRows !== undefined, undefined, { timeout: 60_000 });
    } catch (error) {
      const shown = await page.locator(".log-lines").textContent().catch(() => null);
      throw new Error(`visit ${i}: the log did not load whole (${shown ?? "no log viewer"}; ${problems.join(" | ") || "no page error"})`, { cause: error });
    }
    const t = await page.evaluate(() => ({
      first: (window as unknown as { __firstRows: number }).__firstRows,
      all: (window as unknown as { __allRows: number }).__allRows,
      fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? NaN,
      marks: Object.fromEntries(performance.getEntriesByType("mark").map((m) => [m.name, m.startTime])),
    }));
    if (i > 0) {
      // The first visit warms the disk and the JIT; it is not counted.
      first.push(t.first);
      all.push(t.all);
      fcp.push(t.fcp);
      for (const m of MARKS) marks[m]!.push(t.marks[m] ?? NaN);
    }
    if (i === RUNS) {
      frames = await page.evaluate(async () => {
        const el = document.querySelector(".log-scroll") as HTMLElement;
        const times: number[] = [];
        let last = performance.now();
        for (let step = 0; step <= 120; step++) {
          el.scrollTop = (el.scrollHeight * step) / 120;
          await new Promise((r) => requestAnimationFrame(r));
          const now = performance.now();
          times.push(now - last);
          last = now;
        }
        return times;
      });
    }
    await page.close();
  }
  await browser.close();
  console.log(`first contentful paint (the page):  median ${median(fcp).toFixed(0)} ms  [${fcp.map((x) => x.toFixed(0)).join(", ")}]`);
  // The app's own marks on the way (dashboard/src: use-run-feed.ts, log-fetch.ts, use-log.ts).
  for (const m of MARKS) console.log(`  ${m.padEnd(34)} median ${median(marks[m]!).toFixed(0)} ms`);
  console.log(`first log lines painted:            median ${median(first).toFixed(0)} ms  [${first.map((x) => x.toFixed(0)).join(", ")}]`);
  console.log(`all ${lines.toLocaleString()} lines loaded:         median ${median(all).toFixed(0)} ms  [${all.map((x) => x.toFixed(0)).join(", ")}]`);
  const sorted = [...frames].sort((a, b) => a - b);
  console.log(`scrolling top to bottom in 120 jumps: frame median ${median(frames).toFixed(1)} ms, p95 ${sorted[Math.floor(sorted.length * 0.95)]!.toFixed(1)} ms, max ${sorted[sorted.length - 1]!.toFixed(1)} ms`);
} finally {
  await cp.stop();
  await stopAll();
}
