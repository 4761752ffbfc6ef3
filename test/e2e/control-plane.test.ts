// A new user's first minutes, against the real `wrangler dev`: create a project, store a
// pipeline, trigger a run, read it back, and see the OpenAPI document.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startControlPlane, stopAll } from "./harness.ts";

let cp: ControlPlane;
beforeAll(async () => {
  cp = await startControlPlane();
});
afterAll(async () => {
  await cp?.stop();
  await stopAll();
});

describe("control plane under wrangler dev", () => {
  it("creates a project, stores a pipeline, triggers a run and reads it back", async () => {
    expect((await cp.api("POST", "/api/v1/projects", { slug: "demo" })).status).toBe(201);
    const pipeline = "jobs:\n  hello:\n    runs-on: [linux]\n    steps:\n      - run: echo hello\n";
    const stored = await cp.api("PUT", "/api/v1/projects/demo/pipelines/hello", undefined, { raw: pipeline, headers: { "content-type": "text/plain" } });
    expect(stored.status).toBe(201);
    const run = await cp.api("POST", "/api/v1/projects/demo/pipelines/hello/runs", { branch: "main" });
    expect(run.status).toBe(201);
    const read = await cp.api("GET", `/api/v1/runs/${run.json.id}`);
    expect(read.json).toMatchObject({ number: 1, status: "CREATED", branch: "main" });
    const listed = await cp.api("GET", "/api/v1/runs?project=demo");
    expect(listed.json.items.map((r: { id: string }) => r.id)).toEqual([run.json.id]);
    const queue = await cp.api("GET", "/api/v1/queue");
    expect(queue.json.pending.map((e: { jobKey: string }) => e.jobKey)).toEqual(["hello"]);
  });

  it("serves its OpenAPI document", async () => {
    const doc = await fetch(`${cp.url}/api/openapi.json`).then((r) => r.json() as Promise<any>);
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toContain("/api/v1/runs/{run}");
  });
});
