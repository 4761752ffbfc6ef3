/**
 * Lineage in (issue 22): how many OpenLineage events `POST /api/v1/lineage` accepts per second,
 * and how long a COMPLETE event takes to start the pipeline whose `on: dataset` matches.
 *
 * Throughput: 20 keep-alive clients post START RunEvents (validated, stored in D1 with their
 * datasets; no trigger) as fast as answers come, in rounds alternating with the same load on
 * `GET /api/health` (the baseline). Latency: samples interleaved one by one — a keep-alive
 * `GET /api/health` round trip (baseline), a COMPLETE event whose output matches (the run is
 * created before the answer, so the answer's round trip is the event → run start latency), and
 * the same pipeline started through `POST .../runs` (one API round trip that starts a run).
 * No agent: the started runs stay queued, which does not change how they are started.
 */
import { randomUUID } from "node:crypto";
import { assertNoReload, type Benchmark, closedLoop, figure, KeepAlive, loadRounds, roundStats, setUpPipeline, startControlPlane, stopAll, summarize } from "./harness.ts";

const CLIENTS = 20;
const PIPELINE = `name: consume
on:
  dataset: [{ namespace: "s3://bench", name: "in/*" }]
jobs:
  load:
    runs-on: [nobody]
    steps:
      - run: "true"
`;

/** An OpenLineage RunEvent as Airflow sends it: one input, one output, a fresh run id. */
export function event(eventType: "START" | "COMPLETE", output: string): string {
  return JSON.stringify({
    eventType,
    eventTime: new Date().toISOString(),
    producer: "https://github.com/apache/airflow/tree/providers-openlineage/1.14.0",
    schemaURL: "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    run: { runId: randomUUID(), facets: {} },
    job: { namespace: "airflow", name: "ingest.export" },
    inputs: [{ namespace: "postgres://db", name: "public.events" }],
    outputs: [{ namespace: "s3://bench", name: output }],
  });
}

export const lineageIn: Benchmark = {
  name: "lineage-in",
  title: "Lineage in: events accepted, event → run start",
  async run({ quick, progress }) {
    const { roundMs, rounds } = loadRounds(quick);
    const samples = quick ? 20 : 100;
    const cp = await startControlPlane();
    try {
      await setUpPipeline(cp, "olin", { consume: PIPELINE });
      // One token per client: each token has its own API budget (600 requests a minute, docs/limits.md),
      // which a flood from one token would spend in seconds, as a real integration's would.
      const tokens: string[] = [];
      for (let i = 0; i < CLIENTS; i++) tokens.push((await cp.api("POST", "/api/v1/tokens", { name: `bench-${i}`, scopes: ["run"] })).json.token as string);
      const headersOf = (token: string) => ({ "content-type": "application/json", authorization: `Bearer ${token}` });
      const headers = headersOf(tokens[0]!);
      let turn = 0;
      const nextHeaders = () => headersOf(tokens[turn++ % tokens.length]!);
      const client = new KeepAlive(cp.url, CLIENTS);

      // Warm-up: not counted.
      await closedLoop(client, { concurrency: CLIENTS, durationMs: 500, request: () => client.request("POST", "/api/v1/lineage", nextHeaders(), event("START", "warm")) });
      await closedLoop(client, { concurrency: CLIENTS, durationMs: 500, request: () => client.request("GET", "/api/health") });

      const ingest = { samples: [] as number[], errors: 0, seconds: 0 };
      const health = { samples: [] as number[], errors: 0, seconds: 0 };
      for (let r = 0; r < rounds; r++) {
        const a = await closedLoop(client, {
          concurrency: CLIENTS,
          durationMs: roundMs,
          request: () => client.request("POST", "/api/v1/lineage", nextHeaders(), event("START", `other/${r}`)),
          onProgress: (n) => n % 100 === 0 && progress.update(`round ${r + 1}/${rounds}: ${n} events accepted`),
        });
        const b = await closedLoop(client, { concurrency: CLIENTS, durationMs: roundMs, request: () => client.request("GET", "/api/health") });
        for (const [into, out] of [[ingest, a], [health, b]] as const) {
          into.samples.push(...out.samples);
          into.errors += out.errors;
          into.seconds += out.seconds;
        }
      }
      if (ingest.errors + health.errors > 0) throw new Error(`${ingest.errors + health.errors} requests failed under load`);

      const one = new KeepAlive(cp.url, 1);
      const healthMs: number[] = [];
      const eventMs: number[] = [];
      const apiMs: number[] = [];
      for (let i = 0; i < samples; i++) {
        healthMs.push((await one.request("GET", "/api/health")).ms);
        const triggered = await one.request("POST", "/api/v1/lineage", headers, event("COMPLETE", `in/${i}`));
        const answer = JSON.parse(triggered.body.toString("utf8"));
        if (triggered.status !== 201 || answer.triggered?.[0]?.outcome !== "started") throw new Error(`event: ${triggered.status} ${triggered.body}`);
        eventMs.push(triggered.ms);
        const started = await one.request("POST", "/api/v1/projects/olin/pipelines/consume/runs", headers, "{}");
        if (started.status !== 201) throw new Error(`run: ${started.status} ${started.body}`);
        apiMs.push(started.ms);
        progress.update(`${i + 1}/${samples} samples, last event → run ${triggered.ms.toFixed(1)} ms`);
      }
      client.close();
      one.close();
      assertNoReload(cp);

      const rps = ingest.samples.length / ingest.seconds;
      const baseRps = health.samples.length / health.seconds;
      const e = summarize(eventMs);
      const h = summarize(healthMs);
      const p = summarize(apiMs);
      return {
        name: "lineage-in",
        title: "Lineage in: events accepted, event → run start",
        definition: [
          `- **Events accepted per second**: ${CLIENTS} keep-alive clients post OpenLineage START RunEvents (one input, one output)`,
          "  to `POST /api/v1/lineage` with `run` tokens (one per client: each token's budget is 600 a minute), each sending the next as soon as the answer came: validated against the",
          "  OpenLineage schema, stored in D1 with both datasets, answered 201. No trigger matches a START. Baseline: the same load on",
          `  \`GET /api/health\`, in alternating rounds (${rounds} × ${roundMs / 1000} s each).`,
          "- **Event → run start**: one client posts a COMPLETE whose output matches a pipeline's `on: dataset`; the run is created",
          "  (D1 trigger row, run number, RunObject) before the answer, so the clock runs from sending the event to reading the 201",
          "  that names the started run. Interleaved, sample by sample: a `GET /api/health` round trip (baseline) and the same",
          "  pipeline started by `POST .../runs` (one API round trip that starts a run).",
        ].join("\n"),
        limit: [
          "Each event is one D1 batch (the event, its datasets, the trim), so ingest is bounded by D1's single writer, not by the",
          "worker; a matching COMPLETE adds the trigger lookup, the trigger row and the run's creation — the same work as",
          "`POST .../runs` plus two D1 statements.",
        ].join("\n"),
        figures: [
          figure("lineage-in.rps", "Events accepted per second", rps, "events/s", { baseline: { label: "GET /api/health per second", value: baseRps, unit: "req/s" }, higherIsBetter: true }),
          figure("lineage-in.start.p50", "Event → run start p50", e.p50, "ms", { baseline: { label: "POST .../runs p50", value: p.p50, unit: "ms" } }),
          figure("lineage-in.start.p99", "Event → run start p99", e.p99, "ms", { baseline: { label: "POST .../runs p99", value: p.p99, unit: "ms" } }),
        ],
        notes: [
          `${ingest.samples.length} events accepted in ${ingest.seconds.toFixed(1)} s; answer time p50 ${summarize(ingest.samples).p50.toFixed(1)} ms under ${CLIENTS} clients.`,
          `A GET /api/health round trip took p50 ${h.p50.toFixed(1)} ms in the latency samples.`,
          "One token per client because each token's API budget is 600 requests a minute (docs/limits.md): a flood from one token is refused with 429 after a few seconds, as an integration's would be.",
        ],
        raw: {
          ingest: { rps, latency: roundStats(summarize(ingest.samples)) },
          health: { rps: baseRps, latency: roundStats(summarize(health.samples)) },
          eventToRun: roundStats(e),
          apiRun: roundStats(p),
          healthRoundTrip: roundStats(h),
        },
      };
    } finally {
      await stopAll();
      await cp.stop();
    }
  },
};
