// Issue 20: what one job costs in agent calls, counted at the wire (a counting proxy between a
// real agent and `wrangler dev`), so a change that adds a call per job fails here, not in a
// benchmark. A one-step job takes its claim and at most two job calls (protocol 2: the step's
// reports ride on the log's calls and the finish); a three-step job no more. The benchmark
// "writes" counts the same way (counting-proxy.ts) to put the figure in BENCHMARKS.md.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PER_JOB_COUNTS } from "../support/per-job-counts.ts";
import { callsOfOneJob, type CountingProxy, startCountingProxy } from "./counting-proxy.ts";
import { type ControlPlane, startAgent, startControlPlane, stopAll } from "./harness.ts";

let cp: ControlPlane;
let proxy: CountingProxy;

beforeAll(async () => {
  cp = await startControlPlane();
  proxy = await startCountingProxy(cp.url);
  expect((await cp.api("POST", "/api/v1/projects", { slug: "calls" })).status).toBe(201);
  await startAgent({ ...cp, url: proxy.url }, { name: "counted", labels: ["linux"] });
});
afterAll(async () => {
  await stopAll();
  await proxy?.close();
  await cp?.stop();
});

async function runOnce(name: string, steps: string) {
  const yaml = `name: ${name}\njobs:\n  only:\n    runs-on: [linux]\n    steps:\n${steps}`;
  const stored = await cp.api("PUT", `/api/v1/projects/calls/pipelines/${name}`, undefined, { raw: yaml, headers: { "content-type": "text/plain" } });
  expect(stored.status, stored.text).toBe(201);
  return callsOfOneJob(cp, proxy, "calls", name);
}

describe("agent calls per job", () => {
  it("a one-step job: its claim and at most two job calls, every one of protocol 2", async () => {
    const calls = await runOnce("one", "      - id: only\n        run: \"true\"\n");
    expect(calls[0]!.path).toMatch(/\/claim$/);
    expect(calls.length, JSON.stringify(calls)).toBeLessThanOrEqual(PER_JOB_COUNTS.agentCalls.target);
    for (const call of calls.slice(1)) expect(call.path).toMatch(/^\/api\/agent\/v2\/jobs\/[^/]+\/report/);
    // The last one carries the finish: the run is over when it is answered.
    expect(calls.at(-1)!.status).toBe(200);
  });

  it("a job of three quick steps costs no more", async () => {
    const steps = ["a", "b", "c"].map((id) => `      - id: ${id}\n        run: echo ${id}\n`).join("");
    const calls = await runOnce("three", steps);
    expect(calls[0]!.path).toMatch(/\/claim$/);
    expect(calls.length, JSON.stringify(calls)).toBeLessThanOrEqual(PER_JOB_COUNTS.agentCalls.target);
  });
});
