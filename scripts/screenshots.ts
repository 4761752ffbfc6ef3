// Screenshots of every dashboard page, light and dark, desktop and phone width, for docs/ and
// the README. Seeds realistic data first — projects, pipelines, a git repository, two real
// agents, finished, failed, re-run, cancelled, running and queued runs, artifacts — against a
// real `wrangler dev`, then drives Debian's Chromium.
//
//   node scripts/screenshots.ts              (Node 24; writes docs/screenshots/<page>-<scheme>-<size>.png)
//   npm run screenshots
//   SHOTS=compare,pipeline-trends npm run screenshots   (only those pages)
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type Page } from "playwright-core";
import { type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "../test/e2e/harness.ts";
import { isTerminal } from "../domain/states.ts";

const ROOT = resolve(import.meta.dirname, "..");
const OUT = join(ROOT, "docs/screenshots");

const BUILD = `name: build
params:
  pace: { default: "0", description: Seconds between test lines }
jobs:
  install:
    runs-on: [linux, node]
    steps:
      - id: deps
        name: Install dependencies
        run: |
          printf '\\033[1;34m==>\\033[0m npm ci\\n'
          for p in react preact esbuild vitest playwright typescript; do printf '\\033[2madded\\033[0m %s\\n' "$p"; done
          printf '\\033[32madded 312 packages in 4.1s\\033[0m\\n'
          echo "node=24.9.0" >> "$YM_OUTPUT"
          echo "packages=312" >> "$YM_METRICS"
          echo "install=4.1s" >> "$YM_METRICS"
  test:
    needs: [install]
    runs-on: [linux, node]
    steps:
      - id: unit
        name: Unit tests
        needs: []
        run: |
          for i in $(seq 1 60); do
            printf ' \\033[32m✓\\033[0m src/cart/item-%02d.test.ts \\033[2m(%d tests)\\033[0m \\033[33m%dms\\033[0m\\n' $i $((i % 7 + 2)) $((i * 13 % 97 + 3))
            sleep \${{ params.pace }}
          done
          printf '\\n \\033[1;32mTest Files  60 passed\\033[0m (60)\\n      Tests  \\033[1;32m318 passed\\033[0m (318)\\n'
          echo "tests=318" >> "$YM_METRICS"
          echo "coverage=93.1" >> "$YM_OUTPUT"
          mkdir -p coverage && printf '{"lines":93.1,"branches":88.4}\\n' > coverage/summary.json
      - id: lint
        name: Lint
        needs: []
        run: |
          printf '\\033[33mwarning\\033[0m  src/cart/total.ts:14:7  \\033[2m"discount" is assigned a value but never used\\033[0m\\n'
          printf '\\033[1m✖ 1 problem (0 errors, 1 warning)\\033[0m\\n'
    artifacts: [coverage/**]
  build:
    needs: [test]
    runs-on: [linux, node]
    steps:
      - id: bundle
        run: |
          mkdir -p dist
          head -c 48000 /dev/urandom | base64 > dist/app.js
          printf 'dist/app.js  \\033[36m%s\\033[0m\\n' "$(wc -c < dist/app.js) bytes"
          echo "bundle=$(wc -c < dist/app.js)" >> "$YM_METRICS"
    artifacts: [dist/**]
  deploy:
    needs: [build]
    runs-on: [linux]
    steps:
      - run: printf '\\033[1;35mdeploying\\033[0m to staging… done\\n'
`;

const NIGHTLY = `name: nightly
jobs:
  e2e:
    runs-on: [linux]
    steps:
      - id: browsers
        run: echo "chromium ready"
      - id: suite
        run: |
          printf ' \\033[32m✓\\033[0m checkout flow\\n \\033[32m✓\\033[0m sign in\\n'
          if [ "$YM_RUN_ATTEMPT" = "1" ]; then printf ' \\033[31m✗ payment page times out after 30000ms\\033[0m\\n'; exit 1; fi
          printf ' \\033[32m✓\\033[0m payment page\\n'
  report:
    needs: [e2e]
    runs-on: [linux]
    steps:
      - run: |
          printf '<html><body>3 passed</body></html>\\n' > report.html
    artifacts: [report.html]
`;

const ETL = `name: etl
jobs:
  extract:
    runs-on: [linux]
    steps:
      - run: printf 'rows=%d\\n' 120394 && echo "rows=120394" >> "$YM_METRICS"
  transform:
    needs: [extract]
    runs-on: [linux]
    steps:
      - id: clean
        run: echo cleaning
      - id: enrich
        run: echo enriching
  load:
    needs: [transform]
    runs-on: [linux, docker]
    steps:
      - run: mkdir -p out && printf 'id,total\\n1,42\\n' > out/daily.csv && echo loaded
    artifacts: [out/*.csv]
`;

const TRAIN = "name: train\njobs:\n  train:\n    runs-on: [gpu]\n    priority: 0\n    steps:\n      - run: python train.py\n";

// A release waiting for a person: the run page's approval form.
const RELEASE = `name: release
jobs:
  package:
    runs-on: [linux]
    steps:
      - run: echo packaged
  approve:
    needs: [package]
    type: approval
    approval:
      prompt: "Deploy this build of acme-web to production?"
      inputs:
        canary: { type: number, description: "Percent of the traffic that gets it first" }
        note: { type: string, default: "Weekly release" }
        notify: { type: boolean, default: true }
  deploy:
    needs: [approve]
    runs-on: [linux]
    steps:
      - run: echo "deploying, canary \${{ needs.approve.outputs.canary }}%"
`;

function gitRepo(): { url: string; commits: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "ym-shots-repo-"));
  const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "Ada", GIT_AUTHOR_EMAIL: "ada@example.com", GIT_COMMITTER_NAME: "Ada", GIT_COMMITTER_EMAIL: "ada@example.com" } }).trim();
  git("init", "-q", "-b", "main");
  const commits: string[] = [];
  for (const msg of ["cart: totals", "checkout: address form", "fix: rounding"]) {
    writeFileSync(join(dir, "README.md"), `${msg}\n`);
    git("add", ".");
    git("commit", "-q", "-m", msg);
    commits.push(git("rev-parse", "HEAD"));
  }
  git("checkout", "-q", "-b", "feature/checkout");
  return { url: `file://${dir}`, commits };
}

async function ok(cp: ControlPlane, method: string, path: string, body?: unknown, raw?: string) {
  const r = await cp.api(method, path, body, raw === undefined ? {} : { raw, headers: { "content-type": "text/plain" } });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.json;
}

async function settled(cp: ControlPlane, id: string) {
  return waitFor(`run ${id} to end`, async () => {
    const run = (await cp.api("GET", `/api/v1/runs/${id}`)).json;
    return isTerminal(run.status) ? run : null;
  }, { timeoutMs: 120_000, intervalMs: 300 });
}

async function seed(cp: ControlPlane) {
  const repo = gitRepo();
  await ok(cp, "POST", "/api/v1/projects", { slug: "acme-web", name: "Acme Web", repository: repo.url });
  await ok(cp, "POST", "/api/v1/projects", { slug: "data-platform", name: "Data platform" });
  await ok(cp, "POST", "/api/v1/projects", { slug: "ml", name: "Machine learning" });
  await ok(cp, "PUT", "/api/v1/projects/acme-web/pipelines/build", undefined, BUILD);
  await ok(cp, "PUT", "/api/v1/projects/acme-web/pipelines/nightly", undefined, NIGHTLY);
  await ok(cp, "PUT", "/api/v1/projects/data-platform/pipelines/etl", undefined, ETL);
  await ok(cp, "PUT", "/api/v1/projects/ml/pipelines/train", undefined, TRAIN);
  await ok(cp, "PUT", "/api/v1/projects/acme-web/pipelines/release", undefined, RELEASE);
  await startAgent(cp, { name: "builder-1", labels: ["linux", "node"] });
  await startAgent(cp, { name: "builder-2", labels: ["linux", "node", "docker"] });

  const run = (project: string, pipeline: string, body: Record<string, unknown>) => ok(cp, "POST", `/api/v1/projects/${project}/pipelines/${pipeline}/runs`, body);
  await settled(cp, (await run("acme-web", "build", { branch: "main", commit: repo.commits[0] })).id);
  await settled(cp, (await run("data-platform", "etl", { branch: "main" })).id);
  const nightly = await run("acme-web", "nightly", { branch: "main", commit: repo.commits[1] });
  await settled(cp, nightly.id);
  await ok(cp, "POST", `/api/v1/runs/${nightly.id}/rerun`, { failedOnly: true });
  await settled(cp, nightly.id);
  const failed = await run("acme-web", "nightly", { branch: "main", commit: repo.commits[2] });
  await settled(cp, failed.id);
  const cancelled = await run("acme-web", "build", { branch: "feature/checkout", commit: repo.commits[2], params: { pace: "1" } });
  await waitFor("the build to start", async () => (await cp.api("GET", `/api/v1/runs/${cancelled.id}`)).json.status === "RUNNING", { timeoutMs: 60_000 });
  await ok(cp, "POST", `/api/v1/runs/${cancelled.id}/cancel`, {});
  await settled(cp, cancelled.id);
  for (let i = 0; i < 3; i++) await run("ml", "train", { branch: "main", params: {} });
  const release = await run("acme-web", "release", { branch: "main", commit: repo.commits[2] });
  await waitFor("the release to wait for approval", async () => {
    const view = (await cp.api("GET", `/api/v1/runs/${release.id}`)).json;
    return view.attempts[0].jobs.find((j: { key: string }) => j.key === "approve")?.waitingOn.join() === "approval";
  }, { timeoutMs: 60_000, intervalMs: 300 });
  // The run the run page shows: its tests are running while the pictures are taken.
  const live = await run("acme-web", "build", { branch: "feature/checkout", commit: repo.commits[2], params: { pace: "1.5" } });
  await waitFor("the tests to be printing", async () => {
    const view = (await cp.api("GET", `/api/v1/runs/${live.id}`)).json;
    const test = view.attempts[0].jobs.find((j: { key: string }) => j.key === "test");
    return test?.status === "RUNNING" && (await cp.api("GET", `/api/v1/runs/${live.id}/jobs/test/log`)).text.split("\n").length > 12;
  }, { timeoutMs: 90_000, intervalMs: 500 });
  return { live: live.id as string, failed: failed.id as string, release: release.id as string };
}

const SIZES = { desktop: { width: 1280, height: 860 }, phone: { width: 390, height: 844 } } as const;

async function main() {
  mkdirSync(OUT, { recursive: true });
  const cp = await startControlPlane();
  try {
    const { live, failed, release } = await seed(cp);
    const pages: [string, string, (p: Page) => Promise<unknown>][] = [
      ["run", `/runs/${live}?job=test`, (p) => p.locator(".log-row").nth(10).waitFor()],
      ["queue", "/queue", (p) => p.locator("[data-queue-row]").first().waitFor()],
      ["runs", "/runs", (p) => p.locator("tr[data-run]").first().waitFor()],
      ["projects", "/projects", (p) => p.locator(".cards li").first().waitFor()],
      ["project", "/projects/acme-web", (p) => p.locator("tr[data-run]").first().waitFor()],
      [
        "pipeline-editor",
        "/projects/acme-web/pipelines/nightly",
        async (p) => {
          const editor = p.getByLabel("Pipeline file");
          await editor.waitFor();
          await editor.fill(NIGHTLY.replace("needs: [e2e]", "needs: [e2e, lint]").replace("runs-on: [linux]\n    steps:\n      - id: browsers", "runs-on: [linux]\n    timeout: 30\n    steps:\n      - id: browsers"));
          await p.getByRole("button", { name: "Save" }).click();
          await p.locator(".problems").waitFor();
        },
      ],
      [
        "pipeline-trends",
        "/projects/acme-web/pipelines/nightly",
        async (p) => {
          await p.locator("figure.trend").first().waitFor();
          // After the editor has mounted (it would otherwise take the view back to the top).
          await p.locator(".editor[data-ready]").waitFor();
          await p.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
        },
      ],
      ["compare", `/runs/${failed}/compare`, (p) => p.locator(".compare-table").waitFor()],
      ["approval", `/runs/${release}?job=approve`, (p) => p.getByRole("form", { name: "Approve approve" }).waitFor()],
      ["artifacts", "/artifacts", (p) => p.locator("tr[data-artifact]").first().waitFor()],
      ["agents", "/agents", (p) => p.locator("tr[data-agent]").first().waitFor()],
      ["signin", "/", (p) => p.getByLabel("Token").waitFor()],
    ];
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync", "--hide-scrollbars"],
    });
    // SHOTS=compare,queue takes only those pages again.
    const only = process.env.SHOTS?.split(",");
    for (const [name, path, ready] of pages.filter(([name]) => !only || only.includes(name))) {
      for (const scheme of ["light", "dark"] as const) {
        for (const [size, viewport] of Object.entries(SIZES)) {
          const context = await browser.newContext({ baseURL: cp.url, viewport, colorScheme: scheme, deviceScaleFactor: 1, isMobile: size === "phone", hasTouch: size === "phone" });
          if (name !== "signin") await context.request.post("/api/v1/session", { data: { token: cp.adminToken } });
          const page = await context.newPage();
          await page.goto(path);
          await ready(page);
          await page.waitForTimeout(600);
          const file = join(OUT, `${name}-${scheme}-${size}.png`);
          await page.screenshot({ path: file, animations: "disabled" });
          console.log(`wrote ${file.slice(ROOT.length + 1)}`);
          await context.close();
        }
      }
    }
    await browser.close();
    await cp.api("POST", `/api/v1/runs/${live}/cancel`, {});
  } finally {
    await cp.stop();
    await stopAll();
  }
}

await main();
