#!/usr/bin/env node
// `npm start`: everything a first local run needs, then `wrangler dev`.
// 1. .dev.vars gets an admin token and an encryption key the first time (printed, kept after).
// 2. D1 migrations are applied to the local database.
// 3. wrangler dev serves the API, the dashboard and the Durable Objects on http://127.0.0.1:8787
//    (extra arguments go to wrangler dev, e.g. `npm start -- --port 9000`; `--persist-to DIR`
//    is used for the migrations too, and `--env-file FILE` replaces .dev.vars).
// 4. The Cron Trigger, which wrangler dev does not fire: scripts/local-cron.mjs calls the
//    scheduled handler every minute (YM_LOCAL_CRON_SECONDS), so schedules run as deployed.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { declaredCrons, localCronPeriodMs, startLocalCron } from "./local-cron.mjs";

const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
};

function ensureDevVars() {
  const path = ".dev.vars";
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  const has = (key) => new RegExp(`^${key}=`, "m").test(text);
  let added = "";
  if (!has("YM_ADMIN_TOKEN")) added += `YM_ADMIN_TOKEN=ymadmin_${randomBytes(24).toString("base64url")}\n`;
  if (!has("YM_ENCRYPTION_KEY")) added += `YM_ENCRYPTION_KEY=${randomBytes(32).toString("base64")}\n`;
  if (added) writeFileSync(path, text + (text && !text.endsWith("\n") ? "\n" : "") + added, { mode: 0o600 });
  const admin = readFileSync(path, "utf8").match(/^YM_ADMIN_TOKEN=(.*)$/m)[1];
  console.log(`\nYardmaster admin token (kept in .dev.vars):\n\n  ${admin}\n`);
}

const devArgs = process.argv.slice(2);
// The options this script reads too; everything is passed on to wrangler dev unchanged.
const { values: opts } = parseArgs({
  args: devArgs,
  strict: false,
  options: { port: { type: "string" }, "persist-to": { type: "string" }, "env-file": { type: "string" } },
});
let cronPeriodMs;
try {
  cronPeriodMs = localCronPeriodMs(process.env);
} catch (error) {
  console.error(error.message);
  process.exit(2);
}

if (!opts["env-file"]) ensureDevVars();
const persist = opts["persist-to"] ? ["--persist-to", opts["persist-to"]] : [];
// CI=true: apply without a confirmation prompt (it is the local database; and the script may
// run without a terminal, as in test/e2e/local-schedules.test.ts).
const migrate = spawnSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", ...persist], { stdio: "inherit", env: { ...env, CI: "true" } });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const dev = spawn("wrangler", ["dev", "--ip", "127.0.0.1", ...devArgs], { stdio: "inherit", env });
const crons = declaredCrons(readFileSync("wrangler.jsonc", "utf8"));
const tickers = crons.map((cron) =>
  startLocalCron({ url: `http://127.0.0.1:${opts.port ?? 8787}`, cron, periodMs: cronPeriodMs }),
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => {
  for (const t of tickers) t.stop();
  process.exit(code ?? 0);
});
