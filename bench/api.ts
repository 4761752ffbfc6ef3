/**
 * API: requests per second and latency of `GET /api/v1/runs/:run` (read live from its
 * RunObject) and `GET /api/v1/runs` (a page of the D1 listing) with 10,000 runs in D1, under 50
 * concurrent clients. Baseline: `GET /api/health` of the same worker under the same load.
 *
 * Seeding 10,000 runs through the API would create 10,000 Durable Objects and take many minutes
 * on this machine, so one run is made for real (a 5-job pipeline run to SUCCESS by a real agent)
 * and its D1 row, exactly as the projection wrote it, is cloned 9,999 times straight into the
 * local D1 (`wrangler d1 execute --local`, while `wrangler dev` is stopped) with older UUIDv7
 * ids, other numbers, statuses and branches.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertNoReload, type Benchmark, closedLoop, figure, KeepAlive, loadRounds, ROOT, round, roundStats, startAgent, summarize, waitFor, withControlPlane } from "./harness.ts";

const CLIENTS = 50;

/** The real run's pipeline: five jobs in a diamond, each two steps (the second after the first where it says so). */
const JOBS: { key: string; needs: string[]; steps: [string, string]; chained: boolean }[] = [
  { key: "checkout", needs: [], steps: ["fetch", "deps"], chained: true },
  { key: "unit", needs: ["checkout"], steps: ["test", "report"], chained: true },
  { key: "lint", needs: ["checkout"], steps: ["lint", "format"], chained: false },
  { key: "build", needs: ["unit", "lint"], steps: ["compile", "package"], chained: true },
  { key: "deploy", needs: ["build"], steps: ["ship", "notify"], chained: true },
];

export const PIPELINE = `jobs:\n${JOBS.map(
  ({ key, needs, steps: [first, second], chained }) =>
    `  ${key}:\n${needs.length ? `    needs: [${needs.join(", ")}]\n` : ""}    runs-on: [api]\n    steps:\n` +
    `      - { id: ${first}, run: "true" }\n      - { id: ${second}, ${chained ? `needs: [${first}], ` : ""}run: "true" }\n`,
).join("")}`;

/** A UUIDv7 for a given millisecond (ids order runs in the listing). */
function uuidv7At(ms: number): string {
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const sqlValue = (v: unknown) => (v === null ? "NULL" : typeof v === "number" ? String(v) : `'${String(v).replace(/'/g, "''")}'`);

function wrangler(args: string[]): string {
  const r = spawnSync(join(ROOT, "node_modules/.bin/wrangler"), args, {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`wrangler ${args.slice(0, 3).join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Clones the template row into `count` older runs, written into the local D1 as SQL. */
function seed(persistDir: string, template: Record<string, unknown>, count: number): number {
  const columns = Object.keys(template);
  const created = Number(template.created_at);
  const statuses = ["SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS", "FAILED", "FAILED", "KILLED", "WARNING"];
  const rows: string[] = [];
  for (let i = 0; i < count; i++) {
    // Spread over the 30 days before the template run, oldest first.
    const at = created - 30 * 86_400_000 + Math.floor((i * 30 * 86_400_000) / count);
    const row: Record<string, unknown> = {
      ...template,
      id: uuidv7At(at),
      number: i + 2,
      status: statuses[i % statuses.length],
      branch: i % 7 === 0 ? `feature/${i % 50}` : "main",
      commit: randomBytes(20).toString("hex"),
      created_at: at,
      started_at: at + 1_000,
      ended_at: at + 60_000 + (i % 600) * 1_000,
      updated_at: at + 60_000 + (i % 600) * 1_000,
    };
    rows.push(`(${columns.map((c) => sqlValue(row[c])).join(", ")})`);
  }
  const statements: string[] = [];
  for (let i = 0; i < rows.length; i += 200) {
    statements.push(`INSERT INTO runs (${columns.map((c) => `"${c}"`).join(", ")}) VALUES\n${rows.slice(i, i + 200).join(",\n")};`);
  }
  statements.push(`UPDATE projects SET run_counter = ${count + 1} WHERE id = ${sqlValue(template.project_id)};`);
  const file = join(persistDir, "seed.sql");
  writeFileSync(file, statements.join("\n"));
  const started = performance.now();
  wrangler(["d1", "execute", "DB", "--local", "--persist-to", persistDir, "--file", file]);
  return performance.now() - started;
}

export const api: Benchmark = {
  name: "api",
  title: "API under 50 concurrent clients",
  async run({ quick, progress }) {
    const total = quick ? 1_000 : 10_000;
    const { roundMs, rounds } = loadRounds(quick);
    return withControlPlane({ project: "api", pipelines: { build: PIPELINE } }, async (cp) => {
      const agent = await startAgent(cp, { name: "builder", labels: ["api"] });
      const real = (await cp.api("POST", "/api/v1/projects/api/pipelines/build/runs", { branch: "main", commit: "0123456789abcdef0123456789abcdef01234567" })).json.id as string;
      await waitFor("the real run to succeed", async () => (await cp.api("GET", `/api/v1/runs/${real}`)).json.status === "SUCCESS", { timeoutMs: 120_000, intervalMs: 250 });
      agent.signal("SIGTERM");
      await agent.exited();
      // Let the run's last projection and log archives land before stopping.
      await new Promise((r) => setTimeout(r, 6_000));

      let seedMs = 0;
      await cp.restart(() => {
        const out = wrangler(["d1", "execute", "DB", "--local", "--persist-to", cp.persistDir, "--json", "--command", `SELECT * FROM runs WHERE id = '${real}'`]);
        const template = (JSON.parse(out) as { results: Record<string, unknown>[] }[])[0]!.results[0];
        if (!template) throw new Error("the real run is not in D1");
        progress.update(`seeding ${total - 1} runs into D1`, true);
        seedMs = seed(cp.persistDir, template, total - 1);
      });
      const firstPage = (await cp.api("GET", "/api/v1/runs?limit=100")).json;
      if (firstPage.items.length !== 100 || firstPage.items[0].id !== real) throw new Error("the listing does not show the seeded runs behind the real one");
      progress.log(`${total.toLocaleString("en")} runs in D1 (${total - 1} seeded in ${(seedMs / 1000).toFixed(1)} s)`);

      const client = new KeepAlive(cp.url, CLIENTS);
      const auth = { authorization: `Bearer ${cp.adminToken}` };
      const routes = {
        health: "/api/health",
        run: `/api/v1/runs/${real}`,
        runs: "/api/v1/runs",
      } as const;
      // Warm-up, then rounds that alternate the three routes, so that each sees the same machine.
      for (const path of Object.values(routes)) await closedLoop(client, { concurrency: CLIENTS, durationMs: 500, request: () => client.request("GET", path, auth) });
      const results: Record<keyof typeof routes, { samples: number[]; errors: number; seconds: number }> = {
        health: { samples: [], errors: 0, seconds: 0 },
        run: { samples: [], errors: 0, seconds: 0 },
        runs: { samples: [], errors: 0, seconds: 0 },
      };
      for (let r = 0; r < rounds; r++) {
        for (const [name, path] of Object.entries(routes) as [keyof typeof routes, string][]) {
          const out = await closedLoop(client, {
            concurrency: CLIENTS,
            durationMs: roundMs,
            request: () => client.request("GET", path, auth),
            onProgress: (n) => n % 200 === 0 && progress.update(`round ${r + 1}/${rounds}: GET ${path}: ${n} answers`),
          });
          results[name].samples.push(...out.samples);
          results[name].errors += out.errors;
          results[name].seconds += out.seconds;
        }
      }
      client.close();
      const view = Object.fromEntries(
        Object.entries(results).map(([k, v]) => [k, { rps: v.samples.length / v.seconds, latency: summarize(v.samples), errors: v.errors }]),
      ) as Record<keyof typeof routes, { rps: number; latency: ReturnType<typeof summarize>; errors: number }>;
      const errors = view.run.errors + view.runs.errors + view.health.errors;
      if (errors > 0) throw new Error(`${errors} requests failed under load`);
      assertNoReload(cp);
      const h = view.health;
      const runSize = (await cp.api("GET", routes.run)).text.length;
      const listSize = (await cp.api("GET", routes.runs)).text.length;

      return {
        definition: [
          `${total.toLocaleString("en")} runs in D1: one real (a 5-job, 10-step pipeline run to SUCCESS by a real agent) and ${(total - 1).toLocaleString("en")}`,
          "clones of its D1 row as the projection wrote it, with older UUIDv7 ids, other numbers, statuses, branches and commits,",
          "inserted with `wrangler d1 execute --local` while `wrangler dev` was stopped (10,000 runs through the API would take",
          "many minutes and 10,000 Durable Objects here).",
          "",
          `- **Load**: ${CLIENTS} concurrent clients in one Node process (keep-alive node:http), closed loop — each sends its next`,
          `  request when the last is answered — for ${rounds} rounds of ${roundMs / 1000} s per route, the routes alternating round by round`,
          "  so that each sees the same machine. The admin token (API tokens are rate-limited to 600 requests a minute; an",
          "  API token would add one indexed D1 read per request). A warm-up of 0.5 s per route is not counted.",
          "- **Latency**: request sent → last byte of the answer read, client side; **rps**: answers ÷ seconds.",
          "- `GET /api/v1/runs/:run` reads the real run from its RunObject; `GET /api/v1/runs` is the first page (20) of the listing.",
          "- **Baseline**: `GET /api/health` (no token, no storage) under the same load, in the same rounds.",
        ].join("\n"),
        limit: [
          `The baseline is the ceiling: \`GET /api/health\` does no I/O, so ${h.rps.toFixed(0)} requests a second is what this worker's`,
          "routing, the runtime and `wrangler dev` (every request also crosses its proxy, a second workerd) allow on this machine,",
          "with the 50 clients' own process on the same two cores. With 50 clients in a closed loop, latency is queueing:",
          `p50 ≈ 50 ÷ rps, so a p99 of 50 ms needs about 1,000 requests a second — the baseline itself is at p99 ${h.latency.p99.toFixed(0)} ms.`,
          `\`GET /api/v1/runs/:run\` adds a call to the run's object and builds the run's view (${(h.rps / view.run.rps).toFixed(1)}× below the baseline);`,
          `\`GET /api/v1/runs\` adds one indexed D1 query (${(h.rps / view.runs.rps).toFixed(1)}×), whose cost does not grow with the number of runs: the`,
          "page is read by primary key (UUIDv7, newest first) and a cursor. D1 runs one query at a time per database; on",
          "Cloudflare that is the listing's ceiling, not the worker's.",
        ].join("\n"),
        figures: [
          figure("api.run.rps", "GET /api/v1/runs/:run, requests/s", view.run.rps, "req/s", {
            baseline: { label: "GET /api/health", value: h.rps, unit: "req/s" },
            higherIsBetter: true,
          }),
          figure("api.run.p99", "GET /api/v1/runs/:run, p99", view.run.latency.p99, "ms", {
            baseline: { label: "GET /api/health p99", value: h.latency.p99, unit: "ms" },
            target: { op: "<=", value: 50 },
          }),
          figure("api.runs.rps", `GET /api/v1/runs (${total.toLocaleString("en")} in D1), requests/s`, view.runs.rps, "req/s", {
            baseline: { label: "GET /api/health", value: h.rps, unit: "req/s" },
            higherIsBetter: true,
          }),
          figure("api.runs.p99", `GET /api/v1/runs (${total.toLocaleString("en")} in D1), p99`, view.runs.latency.p99, "ms", {
            baseline: { label: "GET /api/health p99", value: h.latency.p99, unit: "ms" },
            target: { op: "<=", value: 50 },
          }),
        ],
        notes: [
          `p50: run ${view.run.latency.p50.toFixed(1)} ms, list ${view.runs.latency.p50.toFixed(1)} ms, health ${h.latency.p50.toFixed(1)} ms. Answers: a run ${(runSize / 1024).toFixed(1)} KiB, a page ${(listSize / 1024).toFixed(1)} KiB. ${CLIENTS} clients at these rates queue: p99 ≈ ${CLIENTS} ÷ rps when the server is the bottleneck.`,
        ],
        raw: {
          runsInD1: total,
          seededRuns: total - 1,
          seedSeconds: round(seedMs / 1000),
          clients: CLIENTS,
          rounds,
          roundSeconds: roundMs / 1000,
          run: { rps: round(view.run.rps), latencyMs: roundStats(view.run.latency), bytes: runSize },
          list: { rps: round(view.runs.rps), latencyMs: roundStats(view.runs.latency), bytes: listSize },
          health: { rps: round(h.rps), latencyMs: roundStats(h.latency) },
        },
      };
    });
  },
};
