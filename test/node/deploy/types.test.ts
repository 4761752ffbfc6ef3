/**
 * The Env type the code compiles against (platform/worker-configuration.d.ts) is what
 * `wrangler types` makes of wrangler.jsonc and platform/secrets.env today: `npm run
 * check:types` (its command read from package.json, written once) exits 0. wrangler compares
 * the hash of the configuration recorded in the file's header: a binding, var or secret name
 * added without `npm run types` fails here.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const repo = path.resolve(import.meta.dirname, "../../..");

describe("the generated Env type", () => {
  it("is current with wrangler.jsonc (npm run check:types)", () => {
    const { scripts } = JSON.parse(readFileSync(path.join(repo, "package.json"), "utf8")) as { scripts: Record<string, string> };
    const command = scripts["check:types"];
    expect(command).toMatch(/^wrangler types .*--check$/);
    const [bin, ...args] = command!.split(/\s+/);
    const check = spawnSync(path.join(repo, "node_modules/.bin", bin!), args, {
      cwd: repo,
      encoding: "utf8",
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", CI: "true" },
      timeout: 120_000,
    });
    expect(check.status, `run npm run types and commit platform/worker-configuration.d.ts:\n${check.stdout}\n${check.stderr}`).toBe(0);
  }, 120_000);
});
