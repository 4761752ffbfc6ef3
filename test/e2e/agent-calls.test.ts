// Issue 20: what one job costs in agent calls, counted at the wire (a counting proxy between a
// real agent and `wrangler dev`), so a change that adds a call per job fails here, not in a
// benchmark. A one-step job takes its claim and at most two job calls (protocol 2: the step's
// reports ride on the log's calls and the finish); a three-step job no more.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

interface Call {
  method: string;
  path: string;
  status: number;
  start: number;
  end: number;
}

/** An HTTP proxy that records every call that passes it. */
async function countingProxy(target: string): Promise<{ url: string; calls: Call[]; close: () => Promise<void> }> {
  const calls: Call[] = [];
  const server = http.createServer((req, res) => {
    const call: Call = { method: req.method ?? "", path: req.url ?? "", status: 0, start: Date.now(), end: 0 };
    calls.push(call);
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on("end", () => Object.assign(call, { status: answer.statusCode ?? 0, end: Date.now() }));
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, calls, close: () => new Promise((resolve) => {
    // The agent's long-poll claim would hold it open.
    server.closeAllConnections();
    server.close(() => resolve());
  }) };
}

let cp: ControlPlane;
let proxy: Awaited<ReturnType<typeof countingProxy>>;

beforeAll(async () => {
  cp = await startControlPlane();
  proxy = await countingProxy(cp.url);
  expect((await cp.api("POST", "/api/v1/projects", { slug: "calls" })).status).toBe(201);
  await startAgent({ ...cp, url: proxy.url }, { name: "counted", labels: ["linux"] });
});
afterAll(async () => {
  await stopAll();
  await proxy?.close();
  await cp?.stop();
});

async function runOnce(name: string, steps: string): Promise<Call[]> {
  const yaml = `name: ${name}\njobs:\n  only:\n    runs-on: [linux]\n    steps:\n${steps}`;
  const stored = await cp.api("PUT", `/api/v1/projects/calls/pipelines/${name}`, undefined, { raw: yaml, headers: { "content-type": "text/plain" } });
  expect(stored.status, stored.text).toBe(201);
  const run = (await cp.api("POST", `/api/v1/projects/calls/pipelines/${name}/runs`, { branch: "main" })).json;
  const ended = await waitFor(`run ${run.id} to end`, async () => {
    const view = (await cp.api("GET", `/api/v1/runs/${run.id}`)).json;
    return ["SUCCESS", "FAILED", "KILLED", "WARNING"].includes(view.status) ? view : null;
  }, { timeoutMs: 60_000, intervalMs: 100 });
  expect(ended.status).toBe("SUCCESS");
  const attemptId = ended.attempts[0].jobs[0].attempts[0].id as string;
  // The job's calls: those naming its attempt (once all are answered), and the claim that brought it.
  const jobCalls = proxy.calls.filter((c) => c.path.includes(`/jobs/${attemptId}/`));
  await waitFor("the job's calls to be answered", async () => jobCalls.every((c) => c.end > 0) || null, { timeoutMs: 10_000, intervalMs: 20 });
  const claim = proxy.calls.find((c) => c.path.endsWith("/claim") && c.status === 200);
  proxy.calls.splice(0);
  return [claim!, ...jobCalls];
}

describe("agent calls per job", () => {
  it("a one-step job: its claim and at most two job calls, every one of protocol 2", async () => {
    const calls = await runOnce("one", "      - id: only\n        run: \"true\"\n");
    expect(calls[0]!.path).toMatch(/\/claim$/);
    expect(calls.length, JSON.stringify(calls)).toBeLessThanOrEqual(3);
    for (const call of calls.slice(1)) expect(call.path).toMatch(/^\/api\/agent\/v2\/jobs\/[^/]+\/report/);
    // The last one carries the finish: the run is over when it is answered.
    expect(calls.at(-1)!.status).toBe(200);
  });

  it("a job of three quick steps costs no more", async () => {
    const steps = ["a", "b", "c"].map((id) => `      - id: ${id}\n        run: echo ${id}\n`).join("");
    const calls = await runOnce("three", steps);
    expect(calls.length, JSON.stringify(calls)).toBeLessThanOrEqual(3);
  });
});
