// POST /api/v1/lineage through the real worker and D1: events as the official OpenLineage
// clients send them (JSON, Bearer, gzip), refused with a 400 naming the field when the official
// schema would refuse them, stored and listed; datasets with their latest producer; and
// `on: dataset` triggers starting one run per (event, pipeline).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import fullEvent from "../fixtures/openlineage-spec/examples/openlineage-spec-tests/example_full_event.json";
import datasetEvent from "../fixtures/openlineage-spec/examples/marquez/event_dataset_event.json";
import jobEvent from "../fixtures/openlineage-spec/examples/marquez/event_job_event.json";
import { parseIngestedEvent } from "../../domain/lineage/ingest.ts";
import { storeLineageEvent } from "../../platform/lineage/store.ts";
import { RATE_LIMIT, rateLimitKey } from "../../worker/services/rate-limit.ts";
import { api } from "./api-client.ts";

const PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/client/python";
const SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

export function olEvent(over: { eventType?: string; runId?: string; job?: string; namespace?: string; outputs?: { namespace: string; name: string }[]; facets?: object } = {}) {
  return {
    eventType: over.eventType ?? "COMPLETE",
    eventTime: "2026-12-05T10:00:00.000Z",
    producer: PRODUCER,
    schemaURL: SCHEMA,
    run: { runId: over.runId ?? crypto.randomUUID(), facets: over.facets ?? {} },
    job: { namespace: over.namespace ?? "airflow", name: over.job ?? "etl.load_events" },
    inputs: [],
    outputs: over.outputs ?? [],
  };
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const post = (event: unknown, options: { token?: string | null; headers?: Record<string, string> } = {}) =>
  api("POST", "/api/v1/lineage", { body: event, ...options });

async function newToken(scopes: string[], projects?: string[]) {
  const res = await api("POST", "/api/v1/tokens", { body: { name: "ol", scopes, ...(projects ? { projects } : {}) } });
  expect(res.status, res.text).toBe(201);
  return res.json.token as string;
}

const TRIGGERED = (name: string, globs: string) => `name: ${name}
on:
  dataset:
${globs}
jobs:
  load:
    runs-on: [linux]
    steps:
      - run: echo \${{ params.dataset_name }}
`;

async function projectWith(slug: string, pipelines: Record<string, string>) {
  expect((await api("POST", "/api/v1/projects", { body: { slug } })).status).toBe(201);
  for (const [name, text] of Object.entries(pipelines)) {
    const stored = await api("PUT", `/api/v1/projects/${slug}/pipelines/${name}`, { raw: text, headers: { "content-type": "text/plain" } });
    expect(stored.status, stored.text).toBe(201);
  }
}

describe("POST /api/v1/lineage", () => {
  it("accepts the spec's example events (RunEvent, JobEvent, DatasetEvent) and lists them, newest first", async () => {
    for (const [event, kind] of [[fullEvent, "run"], [jobEvent, "job"], [datasetEvent, "dataset"]] as const) {
      const res = await post(event);
      expect(res.status, res.text).toBe(201);
      expect(res.json).toMatchObject({ kind, triggered: [] });
    }
    const listed = await api("GET", "/api/v1/lineage/events?limit=2");
    expect(listed.status).toBe(200);
    expect(listed.json.items.map((i: any) => i.kind)).toEqual(["dataset", "job"]);
    expect(listed.json.items[0].event).toEqual(datasetEvent);
    const next = await api("GET", `/api/v1/lineage/events?limit=2&cursor=${listed.json.cursor}`);
    expect(next.json.items[0]).toMatchObject({ kind: "run", source: "api", eventType: "COMPLETE", namespace: "food_delivery", name: "dbt" });
  });

  it("refuses an event the official schema refuses with a 400 naming the field, and stores nothing", async () => {
    const before = (await api("GET", "/api/v1/lineage/events?limit=100")).json.items.length;
    const cases: [unknown, string][] = [
      [{ ...olEvent(), run: { runId: "not-a-uuid" } }, "run.runId"],
      [{ ...olEvent(), eventTime: "yesterday" }, "eventTime"],
      [{ ...olEvent(), eventType: "DONE" }, "eventType"],
      [{ ...olEvent(), outputs: [{ name: "x" }] }, "outputs[0].namespace"],
      [{ ...olEvent(), run: { runId: crypto.randomUUID(), facets: { parent: { _producer: PRODUCER, _schemaURL: SCHEMA, run: { runId: "x" }, job: { namespace: "a", name: "b" } } } } }, "run.facets.parent.run.runId"],
      [{ hello: "world" }, "run"],
    ];
    for (const [event, field] of cases) {
      const res = await post(event);
      expect(res.status, res.text).toBe(400);
      expect(res.json.error.code).toBe("invalid_event");
      expect(res.json.error.message).toContain(`${field}:`);
    }
    const notJson = await api("POST", "/api/v1/lineage", { raw: "{", headers: { "content-type": "application/json" } });
    expect(notJson.status).toBe(400);
    expect(notJson.json.error.code).toBe("invalid_json");
    expect((await api("GET", "/api/v1/lineage/events?limit=100")).json.items.length).toBe(before);
  });

  it("takes gzip bodies (Content-Encoding: gzip), limits them once decompressed, and refuses broken gzip", async () => {
    const event = olEvent({ eventType: "START" });
    const ok = await api("POST", "/api/v1/lineage", {
      raw: await gzip(JSON.stringify(event)),
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
    });
    expect(ok.status, ok.text).toBe(201);
    const stored = (await api("GET", `/api/v1/lineage/events?runId=${event.run.runId}`)).json.items;
    expect(stored.map((i: any) => i.event)).toEqual([event]);

    // 2 MiB of one byte compress to a few KiB: within the wire limit, past the decompressed one.
    const bomb = await gzip(JSON.stringify({ ...olEvent(), padding: "a".repeat(2 * 1024 * 1024) }));
    expect(bomb.byteLength).toBeLessThan(64 * 1024);
    const big = await api("POST", "/api/v1/lineage", { raw: bomb, headers: { "content-type": "application/json", "content-encoding": "gzip" } });
    expect(big.status).toBe(413);
    expect(big.json.error.message).toContain("once decompressed");

    const broken = await api("POST", "/api/v1/lineage", { raw: "not gzip at all", headers: { "content-type": "application/json", "content-encoding": "gzip" } });
    expect(broken.status).toBe(400);
    expect(broken.json.error.code).toBe("bad_gzip");
    const br = await api("POST", "/api/v1/lineage", { raw: "x", headers: { "content-encoding": "br" } });
    expect(br.status).toBe(415);
  });

  it("needs a token with the run scope", async () => {
    expect((await post(olEvent(), { token: null })).status).toBe(401);
    const read = await newToken(["read"]);
    const refused = await post(olEvent(), { token: read });
    expect(refused.status).toBe(403);
    expect(refused.json.error.message).toContain("'run' scope");
    expect((await post(olEvent(), { token: await newToken(["run"]) })).status).toBe(201);
  });
});

describe("POST /api/v1/lineage, rate", { timeout: 60_000 }, () => {
  it("counts against the token's API budget: past it, 429 and nothing stored", async () => {
    const created = (await api("POST", "/api/v1/tokens", { body: { name: "chatty airflow", scopes: ["run"] } })).json;
    // Spend the budget early enough in a window that it does not roll over (as rate-limit.test.ts).
    const periodMs = RATE_LIMIT.periodSeconds * 1000;
    const left = periodMs - (Date.now() % periodMs);
    if (left < 15_000) await new Promise((r) => setTimeout(r, left + 50));
    const key = rateLimitKey({ kind: "token", via: "bearer", tokenId: created.id, name: created.name, scopes: ["run"], projects: null, owner: null, grants: [{ project: null, scope: "run" }] })!;
    for (let spent = 0; spent < RATE_LIMIT.limit; spent += 50) {
      await Promise.all(Array.from({ length: 50 }, () => env.API_RATE_LIMIT!.limit({ key })));
    }
    const event = olEvent();
    const limited = await post(event, { token: created.token });
    expect(limited.status).toBe(429);
    expect(limited.json.error.code).toBe("rate_limited");
    expect((await api("GET", `/api/v1/lineage/events?runId=${event.run.runId}`)).json.items).toEqual([]);
  });
});

describe("retention", () => {
  it("keeps the newest events: each insert trims at most 100 of the oldest beyond the cap", async () => {
    const count = async () => (await env.DB.prepare("SELECT count(*) AS n, min(seq) AS first FROM lineage_events").first<{ n: number; first: number }>())!;
    const store = async (keep: number) => {
      const event = olEvent({ eventType: "START" });
      const parsed = parseIngestedEvent(event);
      if (!parsed.ok) throw new Error("invalid");
      return storeLineageEvent(env, parsed.value, JSON.stringify(event), "api", Date.now(), keep);
    };
    while ((await count()).n < 150) await store(1_000_000);
    const before = await count();
    // A cap far below what is stored: one insert trims one batch (100) of the oldest, not all.
    await store(3);
    expect((await count()).n).toBe(before.n + 1 - 100);
    // Later inserts catch up, and then the newest events are what is kept.
    let last = 0;
    for (let i = 0; i < 3; i++) last = await store(3);
    const rows = await env.DB.prepare("SELECT seq FROM lineage_events ORDER BY seq").all<{ seq: number }>();
    expect(rows.results.map((r) => r.seq)).toEqual([last - 2, last - 1, last]);

    // Datasets: the least recently named go first, beyond the cap.
    const newest = olEvent({ outputs: [{ namespace: "s3://retained", name: "newest" }] });
    const parsed = parseIngestedEvent(newest);
    if (!parsed.ok) throw new Error("invalid");
    await storeLineageEvent(env, parsed.value, JSON.stringify(newest), "api", Date.now() + 1000, 1_000_000, 2);
    const kept = await env.DB.prepare("SELECT namespace, name FROM datasets ORDER BY updated_at").all<{ namespace: string; name: string }>();
    expect(kept.results).toHaveLength(2);
    expect(kept.results.at(-1)).toEqual({ namespace: "s3://retained", name: "newest" });
  });
});

describe("GET /api/v1/lineage/triggers", () => {
  it("lists only the projects a limited token may see", async () => {
    await projectWith("trig-seen", { load: TRIGGERED("load", `    - namespace: s3://trig\n      name: "x"`) });
    await projectWith("trig-hidden", { load: TRIGGERED("load", `    - namespace: s3://trig\n      name: "x"`) });
    const res = await post(olEvent({ outputs: [{ namespace: "s3://trig", name: "x" }] }));
    expect(res.json.triggered).toHaveLength(2);
    const limited = await newToken(["read"], ["trig-seen"]);
    const listed = (await api("GET", "/api/v1/lineage/triggers", { token: limited })).json.items;
    expect(listed.map((t: any) => t.project)).toEqual(["trig-seen"]);
  });
});

describe("GET /api/v1/datasets", () => {
  it("keeps each dataset with its latest producer, searchable and paged", async () => {
    const first = olEvent({ job: "dbt.orders", namespace: "dbt", outputs: [{ namespace: "postgres://db", name: "shop.orders" }, { namespace: "postgres://db", name: "shop.order_items" }] });
    expect((await post(first)).status).toBe(201);
    const second = olEvent({ job: "spark.rebuild", namespace: "spark", outputs: [{ namespace: "postgres://db", name: "shop.orders" }] });
    expect((await post(second)).status).toBe(201);
    const found = await api("GET", "/api/v1/datasets?q=shop.order");
    expect(found.status).toBe(200);
    expect(found.json.items.map((d: any) => d.name)).toEqual(["shop.order_items", "shop.orders"]);
    expect(found.json.items[1].producer).toEqual({ namespace: "spark", job: "spark.rebuild", runId: second.run.runId, eventType: "COMPLETE", eventTime: second.eventTime });
    expect(found.json.items[0].producer.job).toBe("dbt.orders");

    const page1 = await api("GET", "/api/v1/datasets?q=shop.order&limit=1");
    expect(page1.json.items.map((d: any) => d.name)).toEqual(["shop.order_items"]);
    const page2 = await api("GET", `/api/v1/datasets?q=shop.order&limit=1&cursor=${encodeURIComponent(page1.json.cursor)}`);
    expect(page2.json.items.map((d: any) => d.name)).toEqual(["shop.orders"]);
    expect(page2.json.cursor).toBeNull();
    // `%` and `_` are searched for as themselves.
    expect((await api("GET", "/api/v1/datasets?q=%25")).json.items).toEqual([]);
    expect((await post(olEvent({ outputs: [{ namespace: "pg", name: "raw_events" }, { namespace: "pg", name: "rawXevents" }] }))).status).toBe(201);
    expect((await api("GET", "/api/v1/datasets?q=raw_ev")).json.items.map((d: any) => d.name)).toEqual(["raw_events"]);
  });

  it("is for tokens over every project (events name no project)", async () => {
    const limited = await newToken(["read"], ["some-project"]);
    expect((await api("GET", "/api/v1/datasets", { token: limited })).status).toBe(403);
    expect((await api("GET", "/api/v1/lineage/events", { token: limited })).status).toBe(403);
  });
});

describe("on: dataset", () => {
  it("starts a matching pipeline once per event, with trigger lineage, the params and the upstream run", async () => {
    await projectWith("ds-match", {
      load: TRIGGERED("load", `    - namespace: s3://raw\n      name: "events/*"`),
      other: TRIGGERED("other", `    - namespace: s3://elsewhere\n      name: "**"`),
    });
    const datasets = await api("GET", "/api/v1/datasets?q=events/2026");
    expect(datasets.json.items).toEqual([]);

    const event = olEvent({ outputs: [{ namespace: "s3://raw", name: "events/2026-12-05" }, { namespace: "s3://raw", name: "events/2026-12-06" }] });
    const res = await post(event);
    expect(res.status, res.text).toBe(201);
    expect(res.json.triggered).toHaveLength(1);
    const [triggered] = res.json.triggered;
    expect(triggered).toMatchObject({ project: "ds-match", pipeline: "load", outcome: "started", message: null });
    expect(triggered.datasets).toEqual(event.outputs);

    const run = (await api("GET", `/api/v1/runs/${triggered.runId}`)).json;
    expect(run).toMatchObject({ trigger: "lineage", pipeline: "load", params: { dataset_namespace: "s3://raw", dataset_name: "events/2026-12-05", upstream_run: event.run.runId } });

    // Sent again (a client retrying): the same run, no second one.
    const again = await post(event);
    expect(again.json.triggered).toEqual(res.json.triggered);
    const runs = (await api("GET", "/api/v1/runs?project=ds-match")).json.items;
    expect(runs).toHaveLength(1);

    // The datasets page names the pipeline each dataset triggers.
    const listed = (await api("GET", "/api/v1/datasets?q=events/2026-12-05")).json.items;
    expect(listed[0].triggers).toEqual([{ project: "ds-match", pipeline: "load" }]);

    const records = (await api("GET", `/api/v1/lineage/triggers?run=${triggered.runId}`)).json.items;
    expect(records).toEqual([expect.objectContaining({ outcome: "started", runId: triggered.runId, upstream: { namespace: "airflow", job: "etl.load_events", runId: event.run.runId, ymRunId: null } })]);
  });

  it("starts nothing for an event that does not match, or that is not COMPLETE", async () => {
    await projectWith("ds-nomatch", { load: TRIGGERED("load", `    - namespace: s3://curated\n      name: "tables/*"`) });
    const cases = [
      olEvent({ outputs: [{ namespace: "s3://curated", name: "tables/a/b" }] }), // * stays within one segment
      olEvent({ outputs: [{ namespace: "s3://curated2", name: "tables/a" }] }), // the namespace is exact
      olEvent({ eventType: "START", outputs: [{ namespace: "s3://curated", name: "tables/a" }] }),
      olEvent({ eventType: "FAIL", outputs: [{ namespace: "s3://curated", name: "tables/a" }] }),
    ];
    for (const event of cases) {
      const res = await post(event);
      expect(res.status).toBe(201);
      expect(res.json.triggered).toEqual([]);
    }
    expect((await api("GET", "/api/v1/runs?project=ds-nomatch")).json.items).toEqual([]);
  });

  it("a token limited to some projects starts pipelines of those projects only", async () => {
    await projectWith("ds-mine", { load: TRIGGERED("load", `    - namespace: s3://shared\n      name: "x"`) });
    await projectWith("ds-theirs", { load: TRIGGERED("load", `    - namespace: s3://shared\n      name: "x"`) });
    const token = await newToken(["run"], ["ds-mine"]);
    const res = await post(olEvent({ outputs: [{ namespace: "s3://shared", name: "x" }] }), { token });
    expect(res.json.triggered.map((t: any) => t.project)).toEqual(["ds-mine"]);
  });

  it("a pipeline file with `on: dataset` and a param without a default is refused when stored", async () => {
    expect((await api("POST", "/api/v1/projects", { body: { slug: "ds-params" } })).status).toBe(201);
    const text = TRIGGERED("load", `    - namespace: s3://p\n      name: "x"`).replace("jobs:", "params:\n  region:\njobs:");
    const res = await api("PUT", "/api/v1/projects/ds-params/pipelines/load", { raw: text, headers: { "content-type": "text/plain" } });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.text).toContain("param 'region' has no default, so a run started by a dataset could not start");
  });

  it("a pipeline whose queue no longer allows its project is not started, and says why", async () => {
    expect((await api("POST", "/api/v1/queues", { body: { name: "ds-secure", projects: ["ds-queue"] } })).status).toBe(201);
    await projectWith("ds-queue", {
      load: TRIGGERED("load", `    - namespace: s3://q\n      name: "x"`).replace("    runs-on: [linux]", "    queue: ds-secure\n    runs-on: [linux]"),
    });
    expect((await api("PATCH", "/api/v1/queues/ds-secure", { body: { projects: ["someone-else"] } })).status).toBe(200);
    const res = await post(olEvent({ outputs: [{ namespace: "s3://q", name: "x" }] }));
    expect(res.status).toBe(201);
    expect(res.json.triggered).toEqual([expect.objectContaining({ pipeline: "load", outcome: "failed", runId: null, message: expect.stringContaining("not started:") })]);
    expect(res.json.triggered[0].message).toContain("ds-secure");
    expect((await api("GET", "/api/v1/runs?project=ds-queue")).json.items).toEqual([]);
  });

  it("the pipeline's triggers follow its current version", async () => {
    await projectWith("ds-version", { load: TRIGGERED("load", `    - namespace: s3://v\n      name: "one"`) });
    const stored = await api("PUT", "/api/v1/projects/ds-version/pipelines/load", {
      raw: TRIGGERED("load", `    - namespace: s3://v\n      name: "two"`),
      headers: { "content-type": "text/plain" },
    });
    expect(stored.status).toBe(201);
    expect((await post(olEvent({ outputs: [{ namespace: "s3://v", name: "one" }] }))).json.triggered).toEqual([]);
    expect((await post(olEvent({ outputs: [{ namespace: "s3://v", name: "two" }] }))).json.triggered).toHaveLength(1);
    const rows = await env.DB.prepare("SELECT name_glob FROM dataset_triggers dt JOIN pipelines p ON p.id = dt.pipeline_id JOIN projects pr ON pr.id = p.project_id WHERE pr.slug = 'ds-version'").all();
    expect(rows.results).toEqual([{ name_glob: "two" }]);
  });
});
