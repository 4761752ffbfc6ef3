/**
 * `wrangler deploy --dry-run` builds the worker as Cloudflare would receive it, and the bundle
 * stays within the budget docs/deploy.md states ("Bundle budget: N KiB gzipped"), read from the
 * doc so that the number is written once. A Worker's size limit applies to the compressed
 * upload (3 MB free, 10 MB paid) and its startup time grows with it: the budget makes growth a
 * decision, not an accident.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";

const repo = path.resolve(import.meta.dirname, "../../..");
const outdir = mkdtempSync(path.join(tmpdir(), "ym-deploy-dry-run-"));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** The budget in bytes, from docs/deploy.md. */
function budgetBytes(): number {
  const doc = readFileSync(path.join(repo, "docs/deploy.md"), "utf8");
  const m = /Bundle budget: (\d+) KiB gzipped/.exec(doc);
  if (!m) throw new Error('docs/deploy.md must state "Bundle budget: N KiB gzipped"');
  return Number(m[1]) * 1024;
}

describe("the worker bundle", () => {
  it("builds with wrangler deploy --dry-run and stays within the budget in docs/deploy.md", () => {
    const dry = spawnSync(path.join(repo, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", outdir], {
      cwd: repo,
      encoding: "utf8",
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", CI: "true" },
      timeout: 180_000,
    });
    expect(dry.status, `${dry.stdout}\n${dry.stderr}`).toBe(0);
    const scripts = readdirSync(outdir).filter((f) => f.endsWith(".js"));
    expect(scripts).toEqual(["index.js"]);
    const gzipped = gzipSync(readFileSync(path.join(outdir, "index.js")), { level: 9 }).byteLength;
    const budget = budgetBytes();
    expect(
      gzipped,
      `the worker bundle is ${(gzipped / 1024).toFixed(1)} KiB gzipped, over the ${budget / 1024} KiB budget in docs/deploy.md: shrink it, or raise the budget there and say why`,
    ).toBeLessThanOrEqual(budget);
  }, 180_000);
});
