// Delivery of a run's lineage outbox, inside a real Durable Object's storage. The backend is a
// fetch handler standing in for the HTTP server (workerd tests cannot listen on a port): it
// receives the real Request — headers, gzip body — and answers a real Response, as scripted
// per test. The e2e test (test/e2e/lineage.test.ts) does the same against a real node:http server.
// Waiting out a backoff is done by moving the recorded retry time into the past.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { LineageVars } from "../../domain/lineage/index.ts";
import type { CommandResult } from "../../domain/run-engine/index.ts";
import { LineageExtension } from "../../durable-objects/run-object/lineage.ts";
import { LogStore } from "../../durable-objects/run-object/log-store.ts";
import { EngineDriver } from "../support/engine-driver.ts";
import { job, pipeline } from "../support/pipelines.ts";

interface Received {
  url: string;
  headers: Headers;
  event: { eventType: string; run: { runId: string } };
}

type Answer = Response | Error;

/**
 * A scripted lineage backend: `answer(n)` says how to answer the n-th request (from 1). Answers
 * are made when asked for: a Response belongs to the Durable Object that created it.
 */
class Backend {
  readonly received: Received[] = [];
  constructor(private readonly answer: (n: number) => Answer = () => new Response(null, { status: 201 })) {}

  readonly fetcher = async (url: string, init: RequestInit): Promise<Response> => {
    const request = new Request(url, init);
    const gzip = request.headers.get("content-encoding") === "gzip";
    const text = gzip ? await new Response(request.body!.pipeThrough(new DecompressionStream("gzip"))).text() : await request.text();
    this.received.push({ url, headers: request.headers, event: JSON.parse(text) });
    const answer = this.answer(this.received.length);
    if (answer instanceof Error) throw answer;
    return answer;
  };

  accepted(statuses: number[]): Received[] {
    return this.received.filter((_, i) => statuses[i]! >= 200 && statuses[i]! < 300);
  }
}

/** A run driven through the pure engine, each command recorded and kicked as the RunObject does. */
class Driver extends EngineDriver {
  onCommit: (result: CommandResult<unknown>) => void = () => {};
  override apply<T>(result: CommandResult<T>): CommandResult<T> {
    super.apply(result);
    if (result.ok) this.onCommit(result as CommandResult<unknown>);
    return result;
  }
}

async function withLineage(vars: LineageVars, backend: Backend, test: (t: { ext: LineageExtension; d: Driver; sql: SqlStorage }) => Promise<void>) {
  const stub = env.RUNS.get(env.RUNS.idFromName(`lineage-delivery-${crypto.randomUUID()}`));
  await runInDurableObject(stub, async (_instance, state) => {
    const sql = state.storage.sql; // the RunObject's constructor created the lineage tables
    const ext = new LineageExtension(sql, vars, new LogStore(sql), backend.fetcher);
    const record = (result: { state: EngineDriver["state"]; effects: EngineDriver["effects"] }) => {
      const committed = { state: result.state, effects: result.effects, transitions: [], touched: { run: true, attempts: new Set<number>(), jobs: new Set<string>(), jobAttempts: new Set<string>() }, now: Date.now() };
      state.storage.transactionSync(() => ext.record(committed));
      ext.committed(committed);
    };
    const d = new Driver(pipeline([job("extract"), job("load", ["extract"])], "etl"));
    record({ state: d.state, effects: d.effects });
    d.onCommit = (result) => {
      if (result.ok) record(result);
    };
    await test({ ext, d, sql });
  });
}

/** Lets the backoff run out, then runs the alarm's delivery. */
async function retryNow(ext: LineageExtension, sql: SqlStorage) {
  sql.exec("UPDATE outbox_status SET next_at = 0 WHERE name = 'lineage'");
  await ext.alarm(Date.now(), null);
}

const CONFIGURED = { OPENLINEAGE_URL: "https://lineage.example/ol" };

describe("lineage delivery", () => {
  it("sends every event once, in order, to URL + endpoint, with the API key as bearer, gzipped when asked", async () => {
    const backend = new Backend();
    await withLineage({ ...CONFIGURED, OPENLINEAGE_API_KEY: "secret-key", OPENLINEAGE_COMPRESSION: "gzip" }, backend, async ({ ext, d }) => {
      d.runJob("extract");
      d.runJob("load");
      await ext.alarm(Date.now(), null);
      const { items, delivery } = ext.list(0, 100);
      expect(items.length).toBe(9); // attempt 3 + two jobs × 3
      expect(backend.received.map((r) => r.event)).toEqual(items.map((i) => JSON.parse(i.body)));
      for (const r of backend.received) {
        expect(r.url).toBe("https://lineage.example/ol/api/v1/lineage");
        expect(r.headers.get("authorization")).toBe("Bearer secret-key");
        expect(r.headers.get("content-type")).toBe("application/json");
        expect(r.headers.get("content-encoding")).toBe("gzip");
      }
      expect(items.every((i) => i.delivery.state === "sent" && i.delivery.httpStatus === 201 && i.delivery.attempts === 1 && i.delivery.sentAt)).toBe(true);
      expect(delivery).toMatchObject({ configured: true, pending: 0, sent: 9, failures: 0, nextRetryAt: null });
      expect(ext.nextAlarmAt(Date.now())).toBeNull();
    });
  });

  it("plain JSON and no Authorization header when no key or compression is set; OPENLINEAGE_ENDPOINT is a path under the URL", async () => {
    const backend = new Backend(() => new Response("{}", { status: 200 }));
    await withLineage({ ...CONFIGURED, OPENLINEAGE_ENDPOINT: "/v2/events" }, backend, async ({ ext }) => {
      await ext.alarm(Date.now(), null);
      expect(backend.received.length).toBe(3);
      for (const r of backend.received) {
        expect(r.url).toBe("https://lineage.example/v2/events");
        expect(r.headers.get("authorization")).toBeNull();
        expect(r.headers.get("content-encoding")).toBeNull();
      }
    });
  });

  it("a backend that is down: the queue stops at the head, backs off (growing, capped), and resumes in order with nothing lost or doubled", async () => {
    // 503, 503, a network error, 408, 429, 502, then accepted: retried for as long as it takes.
    const script: (() => Answer)[] = [
      () => new Response("down", { status: 503 }),
      () => new Response("down", { status: 503 }),
      () => new TypeError("connection refused"),
      () => new Response(null, { status: 408 }),
      () => new Response(null, { status: 429 }),
      () => new Response("bad gateway", { status: 502 }),
    ];
    const statuses = [503, 503, 0, 408, 429, 502];
    const backend = new Backend((n) => script[n - 1]?.() ?? new Response(null, { status: 201 }));
    await withLineage(CONFIGURED, backend, async ({ ext, d, sql }) => {
      await ext.alarm(Date.now(), null);
      expect(backend.received.length).toBe(1);
      let [head, ...rest] = ext.list(0, 100).items;
      expect(head!.delivery).toMatchObject({ state: "pending", attempts: 1, httpStatus: 503, error: "HTTP 503: down" });
      expect(rest.every((i) => i.delivery.attempts === 0)).toBe(true);
      const listing = ext.list(0, 100).delivery;
      expect(listing).toMatchObject({ failures: 1, lastError: "HTTP 503: down" });
      const retryAt = Date.parse(listing.nextRetryAt!);
      expect(retryAt - Date.now()).toBeGreaterThan(500);
      expect(ext.nextAlarmAt(Date.now())).toBe(retryAt);

      // Before the retry time neither an alarm nor new commands send anything.
      d.runJob("extract");
      await ext.alarm(Date.now(), null);
      expect(backend.received.length).toBe(1);

      const delays: number[] = [];
      while (backend.received.length < script.length) {
        await retryNow(ext, sql);
        delays.push(Date.parse(ext.list(0, 1).delivery.nextRetryAt ?? "0") - Date.now());
      }
      // Exponential: each wait about twice the one before (1 s, 2 s, 4 s, …; capped at 60 s).
      for (let i = 1; i < delays.length - 1; i++) expect(delays[i]!).toBeGreaterThan(delays[i - 1]! * 1.5);
      [head] = ext.list(0, 1).items;
      expect(head!.delivery).toMatchObject({ state: "pending", attempts: 6, httpStatus: 502 });

      await retryNow(ext, sql);
      d.runJob("load");
      await ext.alarm(Date.now(), null);
      const items = ext.list(0, 100).items;
      expect(items.every((i) => i.delivery.state === "sent")).toBe(true);
      const allStatuses = [...statuses, ...items.map(() => 201)];
      expect(backend.accepted(allStatuses).map((r) => r.event)).toEqual(items.map((i) => JSON.parse(i.body)));
      // Every failed try was for the head event; it was accepted once.
      expect(new Set(backend.received.slice(0, script.length).map((r) => JSON.stringify(r.event)))).toEqual(new Set([items[0]!.body]));
      expect(ext.list(0, 1).delivery).toMatchObject({ failures: 0, nextRetryAt: null, lastError: null });
    });
  });

  it("a 4xx is recorded with its status and the start of the answer, never sent again, and the events behind it go on", async () => {
    const long = `invalid event: ${"x".repeat(2000)}`;
    const backend = new Backend((n) => (n === 2 ? new Response(long, { status: 400 }) : n === 4 ? new Response("", { status: 413 }) : new Response(null, { status: 201 })));
    await withLineage(CONFIGURED, backend, async ({ ext, d }) => {
      d.runJob("extract");
      await ext.alarm(Date.now(), null);
      const items = ext.list(0, 100).items;
      expect(items.map((i) => i.delivery.state)).toEqual(["sent", "rejected", "sent", "rejected", "sent", "sent"]);
      expect(items[1]!.delivery).toMatchObject({ httpStatus: 400, attempts: 1, sentAt: null });
      expect(items[1]!.delivery.error).toBe(`HTTP 400: ${long.slice(0, 500)}…`);
      expect(items[3]!.delivery).toMatchObject({ httpStatus: 413, error: "HTTP 413" });
      expect(ext.list(0, 1).delivery).toMatchObject({ rejected: 2, sent: 4, pending: 0, failures: 0 });
      const sentSoFar = backend.received.length;
      await ext.alarm(Date.now(), null);
      expect(backend.received.length).toBe(sentSoFar);
      expect(ext.nextAlarmAt(Date.now())).toBeNull();
    });
  });

  it("settings that make no sense are reported and nothing is sent", async () => {
    for (const vars of [{ OPENLINEAGE_URL: "ftp://lineage.example" }, { OPENLINEAGE_URL: "not a url" }, { ...CONFIGURED, OPENLINEAGE_COMPRESSION: "brotli" }]) {
      const backend = new Backend();
      await withLineage(vars, backend, async ({ ext, d }) => {
        d.runJob("extract");
        await ext.alarm(Date.now(), null);
        expect(backend.received).toEqual([]);
        const { items, delivery } = ext.list(0, 100);
        expect(items.every((i) => i.delivery.state === "not_configured")).toBe(true);
        expect(delivery.configured).toBe(false);
        expect(delivery.configError).toMatch(/OPENLINEAGE_(URL|COMPRESSION)/);
        expect(ext.nextAlarmAt(Date.now())).toBeNull();
      });
    }
  });
});
