import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client";

describe("runs API", () => {
  it("creates a project, stores a pipeline, triggers a run and reads it back", async () => {
    await projectWithPipeline("acme");
    const created = await api("POST", "/api/v1/projects/acme/pipelines/build/runs", { body: { branch: "main", commit: "abc123" } });
    expect(created.status).toBe(201);
    const run = created.json;
    expect(run).toMatchObject({ number: 1, project: "acme", pipeline: "build", branch: "main", commit: "abc123", trigger: "api", status: "CREATED", attempt: 1 });
    expect(run.attempts[0].jobs.map((j: any) => [j.key, j.status, j.waitingOn])).toEqual([
      ["test", "CREATED", []],
      ["deploy", "CREATED", ["test"]],
    ]);
    expect(run.attempts[0].jobs[0].attempts[0].steps.map((s: any) => s.id)).toEqual(["install", "unit"]);

    const read = await api("GET", `/api/v1/runs/${run.id}`);
    expect(read.status).toBe(200);
    expect(read.json.id).toBe(run.id);

    const second = await api("POST", "/api/v1/projects/acme/pipelines/build/runs", { body: {} });
    expect(second.json.number).toBe(2);

    const list = await api("GET", "/api/v1/runs?project=acme");
    expect(list.status).toBe(200);
    expect(list.json.items.map((r: any) => r.number)).toEqual([2, 1]);

    const page = await api("GET", "/api/v1/runs?project=acme&limit=1");
    expect(page.json.items.map((r: any) => r.number)).toEqual([2]);
    const next = await api("GET", `/api/v1/runs?project=acme&limit=1&cursor=${page.json.cursor}`);
    expect(next.json.items.map((r: any) => r.number)).toEqual([1]);
    expect(next.json.cursor).toBeNull();
  });

  it("cancels a run: every job ends KILLED, and cancelling again is refused with 409", async () => {
    await projectWithPipeline("cancel-me");
    const run = (await api("POST", "/api/v1/projects/cancel-me/pipelines/build/runs")).json;
    const cancelled = await api("POST", `/api/v1/runs/${run.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.json.status).toBe("KILLED");
    expect(cancelled.json.attempts[0].jobs.map((j: any) => j.status)).toEqual(["KILLED", "KILLED"]);
    const again = await api("POST", `/api/v1/runs/${run.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("run_finished");
  });

  it("re-runs a cancelled run as attempt 2, keeping attempt 1", async () => {
    await projectWithPipeline("rerun");
    const run = (await api("POST", "/api/v1/projects/rerun/pipelines/build/runs")).json;
    const cancelled = (await api("POST", `/api/v1/runs/${run.id}/cancel`)).json;
    const rerun = await api("POST", `/api/v1/runs/${run.id}/rerun`, { body: {} });
    expect(rerun.status).toBe(201);
    expect(rerun.json.attempt).toBe(2);
    expect(rerun.json.status).toBe("CREATED");
    expect(rerun.json.attempts[0]).toEqual(cancelled.attempts[0]);
    expect(rerun.json.history.map((h: any) => h.to)).toEqual(["CREATED", "KILLING", "KILLED", "RESTARTED", "CREATED"]);
  });

  it("answers 404 for an unknown run and 400 for a malformed id", async () => {
    expect((await api("GET", "/api/v1/runs/0190a0a0-0000-7000-8000-000000000000")).status).toBe(404);
    const bad = await api("GET", "/api/v1/runs/not-a-uuid");
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("invalid_request");
  });
});
