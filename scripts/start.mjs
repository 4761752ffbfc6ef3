#!/usr/bin/env node
// `npm start`: everything a first local run needs, then `wrangler dev`.
// 1. .dev.vars gets an admin token and an encryption key the first time (printed, kept after).
// 2. D1 migrations are applied to the local database.
// 3. wrangler dev serves the API, the dashboard and the Durable Objects on http://127.0.0.1:8787
//    (extra arguments go to wrangler dev, e.g. `npm start -- --port 9000`).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

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

ensureDevVars();
const migrate = spawnSync("wrangler", ["d1", "migrations", "apply", "DB", "--local"], { stdio: "inherit", env });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const dev = spawn("wrangler", ["dev", "--ip", "127.0.0.1", ...process.argv.slice(2)], { stdio: "inherit", env });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));
