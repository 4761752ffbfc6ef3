// Issue 22's end-to-end proof: the real `wrangler dev` and a real agent process. OpenLineage
// COMPLETE events posted the way the official clients post them (JSON, `Authorization: Bearer`,
// gzip) start the pipeline whose `on: dataset` matches, with the params and the parent facet; a
// non-matching event starts nothing; a Yardmaster job's declared output starts a downstream
// pipeline; a loop is stopped; a long step's metrics arrive while it runs. Every event stored
// (GET /api/v1/lineage/events) and emitted (the runs' lineage) validates against the official
// schemas.
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateEvent } from "../support/openlineage.ts";
import { type AgentProcess, type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

const LABEL = "lineage-in-e2e";
const gate = mkdtempSync(join(tmpdir(), "ym-lineage-in-"));
const GO = join(gate, "go");

const CONSUME = `name: consume
on:
  dataset:
    - namespace: s3://raw
      name: "events/*"
jobs:
  load:
    runs-on: [${LABEL}]
    steps:
      - id: load
        run: |
          echo "loading \${{ params.dataset_namespace }} \${{ params.dataset_name }} after \${{ params.upstream_run }}"
          echo "rows=1000" >> "$YM_METRICS"
          while [ ! -f "${GO}" ]; do sleep 0.1; done
          echo "rows=500" >> "$YM_METRICS"
`;
const PRODUCE = `name: produce
jobs:
  write:
    runs-on: [${LABEL}]
    lineage:
      outputs: [{ namespace: "s3://lake", name: "daily/2026-12-05" }]
    steps:
      - run: echo writing
`;
const DOWNSTREAM = `name: downstream
on:
  dataset: [{ namespace: "s3://lake", name: "daily/*" }]
jobs:
  read:
    runs-on: [${LABEL}]
    steps:
      - run: echo "reading \${{ params.dataset_name }}"
`;
const loop = (name: string, writes: string, reads: string) => `name: ${name}
on:
  dataset: [{ namespace: "s3://loop", name: ${reads} }]
jobs:
  write:
    runs-on: [${LABEL}]
    lineage:
      outputs: [{ namespace: "s3://loop", name: ${writes} }]
    steps:
      - run: echo ${name}
`;

let cp: ControlPlane;
let agent: AgentProcess;
let token: string;

beforeAll(async () => {
  cp = await startControlPlane({ vars: { YM_HEARTBEAT_SECONDS: "1" } });
  expect((await cp.api("POST", "/api/v1/projects", { slug: "lake" })).status).toBe(201);
  const pipelines = { consume: CONSUME, produce: PRODUCE, downstream: DOWNSTREAM, ping: loop("ping", "ping", "pong"), pong: loop("pong", "pong", "ping") };
  for (const [name, yaml] of Object.entries(pipelines)) {
    const stored = await cp.api("PUT", `/api/v1/projects/lake/pipelines/${name}`, undefined, { raw: yaml, headers: { "content-type": "text/plain" } });
    expect(stored.status, stored.text).toBe(201);
  }
  token = (await cp.api("POST", "/api/v1/tokens", { name: "airflow", scopes: ["run"] })).json.token;
  agent = await startAgent(cp, { name: "lineage-in-agent", labels: [LABEL] });
});

afterAll(async () => {
  await stopAll();
  await cp?.stop();
});

const getRun = async (id: string) => (await cp.api("GET", `/api/v1/runs/${id}`)).json;
const explain = (id: string) => async () => `run: ${JSON.stringify(await getRun(id))}\nagent: ${agent.output().slice(-2000)}\nwrangler: ${cp.output().slice(-2000)}`;
const untilEnded = (id: string) =>
  waitFor(`run ${id} to end`, async () => {
    const run = await getRun(id);
    return ["SUCCESS", "WARNING", "FAILED", "KILLED"].includes(run.status) ? run : null;
  }, { timeoutMs: 60_000, intervalMs: 200, explain: explain(id) });
const lineageOf = async (id: string) => (await cp.api("GET", `/api/v1/runs/${id}/lineage?limit=500`)).json.items as any[];
const firedBy = (id: string, outcome: string) =>
  waitFor(`the triggers of run ${id}`, async () => {
    const items = (await cp.api("GET", `/api/v1/lineage/triggers?run=${id}`)).json.items.filter((t: any) => t.upstream.ymRunId === id);
    return items.find((t: any) => t.outcome === outcome);
  }, { timeoutMs: 30_000, intervalMs: 200, explain: explain(id) });

/** An OpenLineage COMPLETE as Airflow's provider sends it: JSON, gzip, Bearer. */
async function postLikeAClient(event: unknown) {
  const response = await fetch(`${cp.url}/api/v1/lineage`, {
    method: "POST",
    headers: { "content-type": "application/json", "content-encoding": "gzip", authorization: `Bearer ${token}` },
    body: gzipSync(Buffer.from(JSON.stringify(event))),
  });
  return { status: response.status, json: (await response.json()) as any };
}

function airflowEvent(outputs: { namespace: string; name: string }[]) {
  const dagRun = randomUUID();
  return {
    eventType: "COMPLETE",
    eventTime: new Date().toISOString(),
    producer: "https://github.com/apache/airflow/tree/providers-openlineage/1.14.0",
    schemaURL: "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    run: {
      runId: randomUUID(),
      facets: {
        parent: {
          _producer: "https://github.com/apache/airflow/tree/providers-openlineage/1.14.0",
          _schemaURL: "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
          run: { runId: dagRun },
          job: { namespace: "airflow", name: "ingest" },
          root: { run: { runId: dagRun }, job: { namespace: "airflow", name: "ingest" } },
        },
      },
    },
    job: { namespace: "airflow", name: "ingest.export_events" },
    inputs: [],
    outputs,
  };
}

describe("lineage in, end to end", () => {
  it("an event posted like the official clients starts the matching pipeline, with the params and the parent facet; its metrics arrive while it runs", async () => {
    const event = airflowEvent([{ namespace: "s3://raw", name: "events/2026-12-05" }]);
    expect(validateEvent(event)).toEqual([]);
    const answer = await postLikeAClient(event);
    expect(answer.status, JSON.stringify(answer.json)).toBe(201);
    const [started] = answer.json.triggered;
    expect(started).toMatchObject({ project: "lake", pipeline: "consume", outcome: "started" });
    // The run exists when the POST answers: it was created before the answer.
    const run = await getRun(started.runId);
    expect(run).toMatchObject({
      trigger: "lineage",
      params: { dataset_namespace: "s3://raw", dataset_name: "events/2026-12-05", upstream_run: event.run.runId },
    });

    // While the step waits for the gate, its first metric arrives as a RUNNING event.
    const jobAttemptId = () => getRun(run.id).then((r) => r.attempts[0].jobs[0].attempts[0]?.id as string | undefined);
    const running = await waitFor("a RUNNING event with the step's metrics", async () => {
      const id = await jobAttemptId();
      return (await lineageOf(run.id)).find((i) => i.runId === id && i.eventType === "RUNNING");
    }, { timeoutMs: 30_000, intervalMs: 200, explain: explain(run.id) });
    expect(running.event.run.facets.yardmaster.metrics).toEqual([{ step: "load", name: "rows", kind: "counter", value: 1000 }]);
    expect((await getRun(run.id)).attempts[0].jobs[0].attempts[0].steps[0]).toMatchObject({ status: "RUNNING", metrics: [{ name: "rows", value: 1000 }] });
    writeFileSync(GO, "");
    expect((await untilEnded(run.id)).status).toBe("SUCCESS");

    const events = await lineageOf(run.id);
    const attemptEvents = events.filter((i) => i.runId === run.attempts[0].id);
    expect(attemptEvents.map((i) => i.eventType)).toEqual(["OTHER", "START", "COMPLETE"]);
    for (const { event: emitted } of attemptEvents) {
      expect(emitted.run.facets.parent).toMatchObject({
        run: { runId: event.run.runId },
        job: { namespace: "airflow", name: "ingest.export_events" },
        root: { run: { runId: event.run.facets.parent.root.run.runId }, job: { namespace: "airflow", name: "ingest" } },
      });
    }
    for (const { event: emitted } of events) expect(validateEvent(emitted)).toEqual([]);
  });

  it("an event that matches nothing starts nothing", async () => {
    const before = (await cp.api("GET", "/api/v1/runs?project=lake&limit=100")).json.items.length;
    const answer = await postLikeAClient(airflowEvent([{ namespace: "s3://raw", name: "logs/2026-12-05" }]));
    expect(answer.status).toBe(201);
    expect(answer.json.triggered).toEqual([]);
    expect((await cp.api("GET", "/api/v1/runs?project=lake&limit=100")).json.items.length).toBe(before);
  });

  it("a Yardmaster job's declared output starts the downstream pipeline", async () => {
    const upstream = (await cp.api("POST", "/api/v1/projects/lake/pipelines/produce/runs", {})).json;
    const ended = await untilEnded(upstream.id);
    expect(ended.status).toBe("SUCCESS");
    const fired = await firedBy(upstream.id, "started");
    expect(fired).toMatchObject({ pipeline: "downstream", datasets: [{ namespace: "s3://lake", name: "daily/2026-12-05" }] });
    const downstream = await untilEnded(fired.runId);
    expect(downstream).toMatchObject({ status: "SUCCESS", trigger: "lineage", params: { dataset_name: "daily/2026-12-05", upstream_run: ended.attempts[0].jobs[0].attempts[0].id } });
    const parent = (await lineageOf(downstream.id)).find((i) => i.runId === downstream.attempts[0].id).event.run.facets.parent;
    expect(parent).toMatchObject({ job: { namespace: "lake", name: "produce.write" }, root: { run: { runId: ended.attempts[0].id } } });
  });

  it("a loop is stopped, and says why", async () => {
    const ping = (await cp.api("POST", "/api/v1/projects/lake/pipelines/ping/runs", {})).json;
    await untilEnded(ping.id);
    const toPong = await firedBy(ping.id, "started");
    expect(toPong.pipeline).toBe("pong");
    await untilEnded(toPong.runId);
    const back = await firedBy(toPong.runId, "loop");
    expect(back).toMatchObject({ pipeline: "ping", runId: null, message: expect.stringContaining("lake/ping → lake/pong → lake/ping is a loop") });
    expect((await cp.api("GET", "/api/v1/runs?project=lake&pipeline=ping")).json.items).toHaveLength(1);
  });

  it("every stored event validates against the official schemas", async () => {
    const stored = (await cp.api("GET", "/api/v1/lineage/events?limit=100")).json.items;
    expect(stored.length).toBeGreaterThanOrEqual(4);
    expect(new Set(stored.map((e: any) => e.source))).toEqual(new Set(["api", "yardmaster"]));
    for (const item of stored) expect(validateEvent(item.event), JSON.stringify(item.event)).toEqual([]);
    expect(existsSync(GO)).toBe(true);
  });
});
