/**
 * Load: 200 concurrent API clients for 60 s (YM_LOAD_SECONDS, YM_LOAD_CLIENTS) against the real
 * `wrangler dev`, while 8 real agents run the jobs they trigger. Each client has its own API
 * token (scope `run`) — the per-token rate limit (600 requests / 60 s, docs/limits.md) is kept by
 * pacing each client to at most 4 requests a second, so every request also pays for a real
 * token check in D1 — and mixes listing runs, reading runs, the queue, the agents and logs,
 * triggering runs (at most 4 a second in all, about what 8 agents can run) and cancelling them.
 * Every answer must be what a user expects (2xx, or 409 for cancelling a run that has ended):
 * zero errors, no run lost, nothing stuck. p50/p99 per route are printed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

const SECONDS = Number(process.env.YM_LOAD_SECONDS ?? 60);
const CLIENTS = Number(process.env.YM_LOAD_CLIENTS ?? 200);
const AGENTS = 8;
const CLIENT_MIN_CYCLE_MS = 250;
const TRIGGERS_PER_SECOND = 4;

let cp: ControlPlane;

beforeAll(async () => {
  cp = await startControlPlane({ vars: { YM_HEARTBEAT_SECONDS: "5" } });
  expect((await cp.api("POST", "/api/v1/projects", { slug: "load" })).status).toBe(201);
  const pipeline = `name: quick\njobs:\n  work:\n    runs-on: [load]\n    steps:\n      - id: hello\n        run: for i in 1 2 3 4 5; do echo "hello $i"; done\n`;
  const put = await cp.api("PUT", "/api/v1/projects/load/pipelines/quick", undefined, { raw: pipeline, headers: { "content-type": "text/plain" } });
  expect(put.status, put.text).toBe(201);
  for (let i = 0; i < AGENTS; i++) await startAgent(cp, { name: `load-${i}`, labels: ["load"] });
}, 180_000);
afterAll(async () => {
  await stopAll();
  await cp?.stop();
});

type Route = "list runs" | "get run" | "queue" | "agents" | "log" | "trigger" | "cancel";
interface Sample {
  route: Route;
  ms: number;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

describe("load", () => {
  it(`${CLIENTS} API clients for ${SECONDS} s while ${AGENTS} agents run the jobs: zero errors`, async () => {
    // One API token per client, like many people and scripts.
    const tokens: string[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const t = await cp.api("POST", "/api/v1/tokens", { name: `client-${i}`, scopes: ["run"] });
      expect(t.status).toBe(201);
      tokens.push(t.json.token);
    }
    const runIds: string[] = [];
    const samples: Sample[] = [];
    const errors: string[] = [];
    const counts = { triggered: 0, cancelled: 0, cancelRefused: 0 };
    let triggerBudget = 0;
    const refill = setInterval(() => (triggerBudget = Math.min(TRIGGERS_PER_SECOND, triggerBudget + TRIGGERS_PER_SECOND / 10)), 100);
    const deadline = Date.now() + SECONDS * 1000;

    async function request(route: Route, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
      const started = performance.now();
      try {
        const res = await fetch(`${cp.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(60_000),
        });
        const text = await res.text();
        samples.push({ route, ms: performance.now() - started });
        let json: any;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        return { status: res.status, json: json ?? text };
      } catch (error) {
        errors.push(`${route}: ${String(error)}`);
        return { status: 0, json: null };
      }
    }

    const pickRun = () => runIds[Math.floor(Math.random() * runIds.length)];
    const expectStatus = (route: Route, got: { status: number; json: any }, ok: number[]) => {
      if (got.status !== 0 && !ok.includes(got.status)) errors.push(`${route}: ${got.status} ${JSON.stringify(got.json).slice(0, 200)}`);
    };

    async function client(token: string): Promise<void> {
      while (Date.now() < deadline) {
        const cycle = performance.now();
        const roll = Math.random();
        const run = pickRun();
        if (roll < 0.1 && triggerBudget >= 1) {
          triggerBudget -= 1;
          const res = await request("trigger", token, "POST", "/api/v1/projects/load/pipelines/quick/runs", { branch: "main" });
          expectStatus("trigger", res, [201]);
          if (res.status === 201) {
            runIds.push(res.json.id);
            counts.triggered++;
          }
        } else if (roll < 0.14 && run) {
          const res = await request("cancel", token, "POST", `/api/v1/runs/${run}/cancel`);
          expectStatus("cancel", res, [200, 409]);
          if (res.status === 200) counts.cancelled++;
          if (res.status === 409) {
            if (res.json?.error?.code === "run_finished") counts.cancelRefused++;
            else errors.push(`cancel: 409 ${res.json?.error?.code}`);
          }
        } else if (roll < 0.4) {
          expectStatus("list runs", await request("list runs", token, "GET", "/api/v1/runs?project=load&limit=20"), [200]);
        } else if (roll < 0.65 && run) {
          expectStatus("get run", await request("get run", token, "GET", `/api/v1/runs/${run}`), [200]);
        } else if (roll < 0.8) {
          expectStatus("queue", await request("queue", token, "GET", "/api/v1/queue"), [200]);
        } else if (roll < 0.88) {
          expectStatus("agents", await request("agents", token, "GET", "/api/v1/agents"), [200]);
        } else if (run) {
          expectStatus("log", await request("log", token, "GET", `/api/v1/runs/${run}/jobs/work/log`), [200]);
        } else {
          expectStatus("list runs", await request("list runs", token, "GET", "/api/v1/runs?project=load&limit=20"), [200]);
        }
        const rest = CLIENT_MIN_CYCLE_MS - (performance.now() - cycle);
        if (rest > 0) await new Promise((r) => setTimeout(r, rest));
      }
    }

    const started = Date.now();
    await Promise.all(tokens.map((t) => client(t)));
    clearInterval(refill);
    const elapsed = (Date.now() - started) / 1000;

    // The report.
    const byRoute = new Map<string, number[]>();
    for (const s of samples) byRoute.set(s.route, [...(byRoute.get(s.route) ?? []), s.ms]);
    const all = samples.map((s) => s.ms).sort((a, b) => a - b);
    const lines = [...byRoute.entries()].map(([route, ms]) => {
      ms.sort((a, b) => a - b);
      return `  ${route.padEnd(10)} n=${String(ms.length).padStart(6)}  p50 ${pct(ms, 0.5).toFixed(0).padStart(5)} ms  p99 ${pct(ms, 0.99).toFixed(0).padStart(5)} ms  max ${ms[ms.length - 1]!.toFixed(0).padStart(5)} ms`;
    });
    console.log(
      `load: ${CLIENTS} clients, ${AGENTS} agents, ${elapsed.toFixed(0)} s: ${samples.length} requests (${(samples.length / elapsed).toFixed(0)}/s), ` +
        `${errors.length} errors; runs triggered ${counts.triggered}, cancelled ${counts.cancelled}, cancel refused (ended) ${counts.cancelRefused}\n` +
        `  all        n=${String(all.length).padStart(6)}  p50 ${pct(all, 0.5).toFixed(0).padStart(5)} ms  p99 ${pct(all, 0.99).toFixed(0).padStart(5)} ms\n${lines.join("\n")}`,
    );
    expect(errors.slice(0, 20), `${errors.length} errors`).toEqual([]);
    expect(counts.triggered).toBeGreaterThan(0);

    // Afterwards: every run ends (the agents drain the queue), none is lost or stuck, nothing is held.
    const ended = await waitFor("every run to end", async () => {
      const views = await Promise.all(runIds.map(async (id) => (await cp.api("GET", `/api/v1/runs/${id}`)).json));
      return views.every((r) => ["SUCCESS", "KILLED"].includes(r.status)) ? views : null;
    }, { timeoutMs: 300_000, intervalMs: 2_000, explain: async () => JSON.stringify((await cp.api("GET", "/api/v1/queue")).json).slice(0, 2000) });
    const succeeded = ended.filter((r) => r.status === "SUCCESS");
    expect(succeeded.length).toBeGreaterThan(0);
    for (const r of ended) expect(r.attempts[0].jobs[0].attempts.every((a: any) => ["SUCCESS", "KILLED"].includes(a.status)), JSON.stringify(r).slice(0, 500)).toBe(true);
    for (const r of succeeded.slice(0, 20)) expect((await cp.api("GET", `/api/v1/runs/${r.id}/jobs/work/log`)).text).toContain("hello 5\n");
    await waitFor("the queue to be empty", async () => {
      const q = (await cp.api("GET", "/api/v1/queue")).json;
      return q.pending.length === 0 && q.running.length === 0;
    }, { timeoutMs: 30_000 });
    // D1's listing (fed by the runs' outboxes) has every run, in its final state.
    const listAll = async () => {
      const listed = new Map<string, string>();
      let cursor: string | null = null;
      do {
        const page: any = (await cp.api("GET", `/api/v1/runs?project=load&limit=100${cursor ? `&cursor=${cursor}` : ""}`)).json;
        for (const r of page.items) listed.set(r.id, r.status);
        cursor = page.cursor;
      } while (cursor);
      return ended.filter((r) => listed.get(r.id) !== r.status).map((r) => [r.id, r.status, listed.get(r.id) ?? "missing"]);
    };
    await waitFor("D1 to list every run in its final state", async () => (await listAll()).length === 0, { timeoutMs: 30_000, intervalMs: 1_000 }).catch(() => undefined);
    expect(await listAll()).toEqual([]);
  }, SECONDS * 1000 + 600_000);
});
