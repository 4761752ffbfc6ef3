// Schedules under `npm start`: wrangler dev never fires Cron Triggers, so scripts/start.mjs
// calls the scheduled handler itself on the deployed cadence (scripts/local-cron.mjs). Here
// the real `npm start` script runs (its own migrations, wrangler dev, the ticker every 2 s
// instead of 60) and an `on: schedule` pipeline starts a run by itself: nobody calls the cron
// URL or the handler. The run comes at the next minute's slot, so the wait is up to a minute.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, ROOT, waitFor } from "./harness.ts";

const dir = mkdtempSync(join(tmpdir(), "ym-npm-start-"));
const adminToken = `e2e-admin-${Math.random().toString(36).slice(2)}`;
let url = "";
let start: ChildProcess;
let output = "";

async function api(method: string, path: string, body?: string, contentType = "application/json") {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { "content-type": contentType } : {}) },
    body,
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
}

function launch(port: number, envFile: string): ChildProcess {
  const child = spawn(
    join(ROOT, "node_modules/.bin/node"),
    ["scripts/start.mjs", "--port", String(port), "--persist-to", join(dir, "state"), "--env-file", envFile, "--show-interactive-dev-session=false"],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}`,
        YM_LOCAL_CRON_SECONDS: "2",
        WRANGLER_SEND_METRICS: "false",
        CLOUDFLARE_CF_FETCH_ENABLED: "false",
        NO_COLOR: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: afterAll stops it with wrangler dev and workerd.
      detached: true,
    },
  );
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return child;
}

beforeAll(async () => {
  const envFile = join(dir, "test.env");
  writeFileSync(envFile, `YM_ADMIN_TOKEN=${adminToken}\nYM_ENCRYPTION_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n`);
  for (let attempt = 1; ; attempt++) {
    const from = output.length;
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    start = launch(port, envFile);
    const outcome = await waitFor("npm start to serve the API", async () => (start.exitCode !== null ? "exited" : (await fetch(`${url}/api/health`)).ok && "up"), {
      timeoutMs: 90_000,
      intervalMs: 250,
      explain: () => output.slice(-3000),
    });
    if (outcome === "up") return;
    // wrangler dev picks its internal ports itself; files started side by side can collide
    // (test/e2e/harness.ts does the same).
    if (attempt < 3 && /Address already in use/.test(output.slice(from))) continue;
    throw new Error(`npm start exited (${start.exitCode}) before answering:\n${output.slice(from).slice(-3000)}`);
  }
}, 240_000);

afterAll(async () => {
  if (start?.pid && start.exitCode === null) {
    const exited = new Promise((r) => start.once("exit", r));
    try {
      process.kill(-start.pid, "SIGTERM");
    } catch {
      /* gone */
    }
    const kill = setTimeout(() => {
      try {
        process.kill(-start.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
    }, 5_000);
    await exited;
    clearTimeout(kill);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("schedules under npm start", () => {
  it("an `on: schedule` pipeline starts its run at the next minute without anyone calling the cron URL", async () => {
    expect((await api("POST", "/api/v1/projects", JSON.stringify({ slug: "timed" }))).status).toBe(201);
    const pipeline = `on: { schedule: ["* * * * *"] }\njobs:\n  tick:\n    runs-on: [nobody]\n    steps:\n      - run: echo tick\n`;
    const stored = await api("PUT", "/api/v1/projects/timed/pipelines/every-minute", pipeline, "text/plain");
    expect(stored.status, stored.text).toBe(201);
    const storedAt = Date.now();

    const run = await waitFor(
      "the schedule to start a run",
      async () => (await api("GET", "/api/v1/runs?project=timed")).json.items[0],
      { timeoutMs: 75_000, intervalMs: 1000, explain: () => output.slice(-3000) },
    );
    expect(run).toMatchObject({ pipeline: "every-minute", trigger: "schedule" });
    // The slot is the first whole minute after the pipeline was stored.
    const slot = Date.parse((await api("GET", `/api/v1/runs/${run.id}`)).json.nominalTime);
    expect(slot % 60_000).toBe(0);
    expect(slot).toBeGreaterThan(storedAt - 60_000);
    expect(output).toContain("local cron: calling the scheduled handler every 2 s");
  }, 150_000);
});
