// Issue 7's end-to-end proof: the real `wrangler dev`, a real agent process, and a real HTTP
// server (node:http on 127.0.0.1) standing in for the OpenLineage backend. A pipeline with a
// job that fails once and succeeds on its retry, a job that fails (its dependant never runs),
// and a second run cancelled mid-step. The backend refuses everything (503) until both runs
// have ended, then accepts: every event arrives exactly once, in order per runId, with the
// expected sequence per runId, each valid against the official OpenLineage schemas.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCycleViolations, validateEvent } from "../support/openlineage.ts";
import { type AgentProcess, type ControlPlane, freePort, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

interface Received {
  headers: IncomingHttpHeaders;
  event: any;
}

/** The stand-in lineage backend: refuses with 503 while `refusing`, then records and answers 201. */
class LineageBackend {
  refusing = true;
  refused = 0;
  readonly accepted: Received[] = [];
  private server: Server | null = null;

  async start(port: number): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.method !== "POST" || req.url !== "/api/v1/lineage") {
          res.writeHead(404).end("no such endpoint");
          return;
        }
        if (this.refusing) {
          this.refused++;
          res.writeHead(503, { "content-type": "text/plain" }).end("lineage backend is down for maintenance");
          return;
        }
        const raw = Buffer.concat(chunks);
        const body = req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
        this.accepted.push({ headers: req.headers, event: JSON.parse(body.toString("utf8")) });
        res.writeHead(201, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(null)));
  }
}

const LABEL = "lineage-e2e";
const ETL = `name: etl
jobs:
  extract:
    runs-on: [${LABEL}]
    retries: 1
    lineage:
      inputs: [{ namespace: "s3://raw", name: "events" }]
      outputs: [{ namespace: "s3://lake", name: "events" }]
    steps:
      - id: pull
        run: |
          if [ "$YM_JOB_ATTEMPT" = "1" ]; then echo "source not ready"; exit 1; fi
          echo "pulled 42 rows"
          echo "rowCount=42" >> "$YM_METRICS"
  load:
    needs: [extract]
    runs-on: [${LABEL}]
    steps:
      - id: copy
        run: |
          echo "loading events"
          echo "error: table events is locked" >&2
          exit 4
  report:
    needs: [load]
    runs-on: [${LABEL}]
    steps:
      - run: echo never
`;
const SLOW = `name: slow
jobs:
  nap:
    runs-on: [${LABEL}]
    steps:
      - id: sleep
        run: echo napping; sleep 60
  after:
    needs: [nap]
    runs-on: [${LABEL}]
    steps:
      - run: echo never
`;

let cp: ControlPlane;
let agent: AgentProcess;
const backend = new LineageBackend();

beforeAll(async () => {
  const port = await freePort();
  await backend.start(port);
  cp = await startControlPlane({
    vars: {
      OPENLINEAGE_URL: `http://127.0.0.1:${port}`,
      OPENLINEAGE_API_KEY: "e2e-lineage-key",
      OPENLINEAGE_COMPRESSION: "gzip",
      YM_HEARTBEAT_SECONDS: "1",
    },
  });
  expect((await cp.api("POST", "/api/v1/projects", { slug: "lineage" })).status).toBe(201);
  for (const [name, yaml] of [["etl", ETL], ["slow", SLOW]]) {
    const stored = await cp.api("PUT", `/api/v1/projects/lineage/pipelines/${name}`, undefined, { raw: yaml, headers: { "content-type": "text/plain" } });
    expect(stored.status, stored.text).toBe(201);
  }
  agent = await startAgent(cp, { name: "lineage-agent", labels: [LABEL] });
});

afterAll(async () => {
  await stopAll();
  await cp?.stop();
  await backend.stop();
});

const getRun = async (id: string) => (await cp.api("GET", `/api/v1/runs/${id}`)).json;
const explain = (id: string) => async () =>
  `run: ${JSON.stringify(await getRun(id))}\nagent: ${agent.output().slice(-2000)}\nwrangler: ${cp.output().slice(-2000)}`;
const untilEnded = (id: string) =>
  waitFor(`run ${id} to end`, async () => {
    const run = await getRun(id);
    return ["SUCCESS", "WARNING", "FAILED", "KILLED"].includes(run.status) ? run : null;
  }, { timeoutMs: 60_000, intervalMs: 250, explain: explain(id) });

/** The expected event types per runId of a run, by job key (and attempt) as the API shows it. */
function runIds(run: any) {
  const attempt = run.attempts[0];
  const jobs = Object.fromEntries(attempt.jobs.map((j: any) => [j.key, j.attempts.map((a: any) => a.id)]));
  return { attempt: attempt.id as string, jobs: jobs as Record<string, string[]> };
}

describe("OpenLineage delivery end to end", () => {
  it("a retried job, a failed job and a cancelled run: every event arrives once, in order, valid, after the backend comes back", async () => {
    // Run 1: extract fails, is retried and succeeds (with a metric); load fails; report never runs.
    const first = (await cp.api("POST", "/api/v1/projects/lineage/pipelines/etl/runs", { branch: "main", commit: "0a1b2c3" })).json;
    const etl = await untilEnded(first.id);
    expect(etl.status).toBe("FAILED");

    // Run 2: cancelled while its first job's step sleeps.
    const second = (await cp.api("POST", "/api/v1/projects/lineage/pipelines/slow/runs", { branch: "main" })).json;
    await waitFor("the nap step to run", async () => (await getRun(second.id)).attempts[0].jobs[0].attempts[0].steps[0].status === "RUNNING", {
      timeoutMs: 30_000,
      explain: explain(second.id),
    });
    expect((await cp.api("POST", `/api/v1/runs/${second.id}/cancel`)).status).toBe(200);
    const slow = await untilEnded(second.id);
    expect(slow.status).toBe("KILLED");

    // Both runs tried to deliver while the backend was down; nothing got through.
    await waitFor("delivery attempts against the refusing backend", () => backend.refused >= 2, { timeoutMs: 20_000 });
    expect(backend.accepted).toEqual([]);
    const pending = (await cp.api("GET", `/api/v1/runs/${first.id}/lineage`)).json;
    expect(pending.delivery).toMatchObject({ configured: true, sent: 0 });
    expect(pending.items[0].delivery).toMatchObject({ state: "pending", httpStatus: 503 });
    expect(pending.items[0].delivery.error).toContain("down for maintenance");

    backend.refusing = false;
    const listed = async (id: string) => (await cp.api("GET", `/api/v1/runs/${id}/lineage`)).json;
    const total = (await listed(first.id)).items.length + (await listed(second.id)).items.length;
    await waitFor(`all ${total} events to arrive`, () => backend.accepted.length >= total, {
      timeoutMs: 90_000,
      intervalMs: 250,
      explain: async () => `accepted ${backend.accepted.length}, refused ${backend.refused}\n${JSON.stringify((await listed(first.id)).delivery)}`,
    });
    await new Promise((r) => setTimeout(r, 1500)); // anything sent twice would show up now
    const events = backend.accepted.map((r) => r.event);

    // Exactly the expected sequence per runId.
    const seq = (runId: string) => events.filter((e) => e.run.runId === runId).map((e) => e.eventType);
    const a = runIds(etl);
    expect(a.jobs.extract).toHaveLength(2);
    expect(seq(a.attempt)).toEqual(["OTHER", "START", "FAIL"]);
    expect(seq(a.jobs.extract![0]!)).toEqual(["OTHER", "START", "FAIL"]);
    expect(seq(a.jobs.extract![1]!)).toEqual(["OTHER", "START", "RUNNING", "COMPLETE"]);
    expect(seq(a.jobs.load![0]!)).toEqual(["OTHER", "START", "FAIL"]);
    expect(seq(a.jobs.report![0]!)).toEqual(["OTHER", "START", "ABORT"]);
    const b = runIds(slow);
    expect(seq(b.attempt)).toEqual(["OTHER", "START", "ABORT"]);
    expect(seq(b.jobs.nap![0]!)).toEqual(["OTHER", "START", "ABORT"]);
    expect(seq(b.jobs.after![0]!)).toEqual(["OTHER", "START", "ABORT"]);
    expect(new Set(events.map((e) => e.run.runId)).size).toBe(8);

    // Each event once, in the order it was emitted; all valid; the run cycle holds.
    for (const id of [first.id, second.id]) {
      const { items, delivery } = await listed(id);
      const mine = events.filter((e) => items.some((i: any) => i.runId === e.run.runId));
      expect(mine).toEqual(items.map((i: any) => i.event));
      expect(delivery).toMatchObject({ pending: 0, rejected: 0, sent: items.length, failures: 0 });
      expect(items[0].delivery.attempts).toBeGreaterThan(1); // the head was retried while the backend was down
    }
    expect(events.flatMap((e, i) => validateEvent(e).map((err) => `#${i} ${e.eventType} ${e.job.name}: ${err}`))).toEqual([]);
    expect(runCycleViolations(events)).toEqual([]);
    for (const r of backend.accepted) {
      expect(r.headers.authorization).toBe("Bearer e2e-lineage-key");
      expect(r.headers["content-encoding"]).toBe("gzip");
    }

    // What a lineage user sees: the failure with its step and last log lines, the metric, the datasets.
    const loadFail = events.find((e) => e.run.runId === a.jobs.load![0] && e.eventType === "FAIL");
    expect(loadFail.run.facets.errorMessage.message).toBe('step "copy" of job "load" failed with exit code 4');
    expect(loadFail.run.facets.errorMessage.stackTrace).toContain("error: table events is locked");
    const extracted = events.find((e) => e.run.runId === a.jobs.extract![1] && e.eventType === "COMPLETE");
    expect(extracted.job).toMatchObject({ namespace: "lineage", name: "etl.extract" });
    expect(extracted.inputs).toEqual([{ namespace: "s3://raw", name: "events" }]);
    expect(extracted.outputs[0]).toMatchObject({ namespace: "s3://lake", name: "events", outputFacets: { outputStatistics: { rowCount: 42 } } });
    expect(extracted.run.facets.parent.run.runId).toBe(a.attempt);
    const napAbort = events.find((e) => e.run.runId === b.jobs.nap![0] && e.eventType === "ABORT");
    expect(napAbort.run.facets.yardmaster).toMatchObject({ status: "KILLED", reason: "cancelled" });
  });
});
