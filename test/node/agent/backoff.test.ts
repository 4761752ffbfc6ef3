import { afterEach, describe, expect, it } from "vitest";
import { AgentApi } from "../../../agent/protocol-client.ts";
import { Backoff, sleep } from "../../../agent/backoff.ts";
import { HttpClient, parseRetryAfter } from "../../../agent/client.ts";
import { silentLogger } from "../../../agent/logger.ts";
import { makeAssignment, ProtocolServer } from "./protocol-server.ts";

describe("Backoff", () => {
  it("grows exponentially, then stays at the cap", () => {
    const b = new Backoff({ baseMs: 100, capMs: 3000, random: () => 0.999999 });
    const delays = Array.from({ length: 10 }, () => b.next());
    expect(delays.slice(0, 6)).toEqual([100, 200, 400, 800, 1600, 3000]);
    expect(delays.slice(5).every((d) => d === 3000)).toBe(true);
    for (let i = 1; i < delays.length; i++) expect(delays[i]!).toBeGreaterThanOrEqual(delays[i - 1]!);
  });

  it("jitters within [ceiling/2, ceiling]", () => {
    const low = new Backoff({ baseMs: 1000, capMs: 10_000, random: () => 0 });
    const high = new Backoff({ baseMs: 1000, capMs: 10_000, random: () => 0.999999 });
    expect([low.next(), low.next(), low.next()]).toEqual([500, 1000, 2000]);
    expect([high.next(), high.next(), high.next()]).toEqual([1000, 2000, 4000]);
    const real = new Backoff({ baseMs: 1000, capMs: 10_000 });
    const seen = new Set(Array.from({ length: 50 }, () => (real.reset(), real.next())));
    expect(seen.size).toBeGreaterThan(10); // really random
    for (const d of seen) {
      expect(d).toBeGreaterThanOrEqual(500);
      expect(d).toBeLessThanOrEqual(1000);
    }
  });

  it("never overflows however long the outage", () => {
    const b = new Backoff({ baseMs: 1000, capMs: 30_000 });
    for (let i = 0; i < 5000; i++) b.next();
    const d = b.next();
    expect(d).toBeGreaterThanOrEqual(15_000);
    expect(d).toBeLessThanOrEqual(30_000);
  });

  it("resets", () => {
    const b = new Backoff({ baseMs: 100, capMs: 10_000, random: () => 0.999999 });
    b.next();
    b.next();
    b.reset();
    expect(b.next()).toBe(100);
  });

  it("sleep is abortable", async () => {
    const c = new AbortController();
    const started = Date.now();
    setTimeout(() => c.abort(), 20);
    await expect(sleep(10_000, c.signal)).rejects.toMatchObject({ name: "AbortError" });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("parses Retry-After", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(undefined)).toBe(0);
    expect(parseRetryAfter(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
  });
});

describe("retrying client", () => {
  let server: ProtocolServer;
  afterEach(async () => server?.close());

  it("a claim never gives up on 5xx, 429, 408 or dropped connections", async () => {
    server = await new ProtocolServer().start();
    server.agentTokens.add("t");
    server.claimFaults = [503, 500, "drop", 429, 408, 502, "drop", 503, 503, 503, 503, 503, 503, 503, 503];
    const job = makeAssignment({ steps: [{ id: "a", run: "true" }] });
    server.enqueue(job);
    const api = new AgentApi(new HttpClient({ url: server.url, logger: silentLogger }));
    const result = await api.claim("t", { waitSeconds: 1 }, undefined, { baseMs: 1, capMs: 5 });
    expect(result.kind).toBe("job");
    expect(server.claims).toBe(16);
    api.http.close();
  });

  it("an unauthorized claim is reported, not retried", async () => {
    server = await new ProtocolServer().start();
    const api = new AgentApi(new HttpClient({ url: server.url, logger: silentLogger }));
    await expect(api.claim("wrong", { waitSeconds: 0 })).rejects.toMatchObject({ name: "UnauthorizedError" });
    expect(server.claims).toBe(1);
    api.http.close();
  });

  it("a job call refused with 410 stops the job; a lost answer then 410 on finish counts as done", async () => {
    server = await new ProtocolServer().start();
    const job = makeAssignment();
    const record = server.addJob(job);
    const api = new AgentApi(new HttpClient({ url: server.url, logger: silentLogger }));
    const jobApi = api.job(job.token, job.job.attemptId);
    server.stepFaults = [410];
    await expect(jobApi.step("a", { attempt: 1, status: "RUNNING" })).rejects.toMatchObject({ name: "JobRejectedError", status: 410 });
    server.stepFaults = [503, 409];
    // 503, then 409: the first try may have been applied, so 409 means "already done".
    await expect(jobApi.step("a", { attempt: 1, status: "RUNNING" })).resolves.toBeUndefined();
    await jobApi.finish({ status: "SUCCESS", outputs: {} });
    expect(record.finish?.status).toBe("SUCCESS");
    await expect(jobApi.step("a", { attempt: 1, status: "SUCCESS" })).rejects.toMatchObject({ name: "JobRejectedError", code: "job_ended" });
    api.http.close();
  });
});
