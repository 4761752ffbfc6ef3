import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, PIPELINE, projectWithPipeline } from "./api-client.ts";
import { job } from "./agent-client.ts";
import { agentWith, claimNext, labelledPipeline, runClaimed } from "./run-helpers.ts";

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

const PARAMS_PIPELINE = PIPELINE.replace("name: build\n", "name: build\nparams:\n  target: staging\n  version:\n");
const runCount = async () => (await env.DB.prepare("SELECT count(*) AS n FROM runs").first<{ n: number }>())!.n;

describe("triggering a run", () => {
  it("fills defaults, keeps given params as strings, and numbers runs per project", async () => {
    await projectWithPipeline("params", PARAMS_PIPELINE);
    const run = await api("POST", "/api/v1/projects/params/pipelines/build/runs", { body: { params: { version: 7 } } });
    expect(run.status).toBe(201);
    expect(run.json.params).toEqual({ target: "staging", version: "7" });
    const other = await api("POST", "/api/v1/projects/params/pipelines/build/runs", { body: { params: { version: "8", target: "prod" } } });
    expect(other.json).toMatchObject({ number: 2, params: { target: "prod", version: "8" } });
  });

  it("refuses unknown or missing params (400), an unknown project or pipeline (404), and a bad body (400) — creating no run and using no number", async () => {
    await projectWithPipeline("params-bad", PARAMS_PIPELINE);
    const before = await runCount();
    const unknown = await api("POST", "/api/v1/projects/params-bad/pipelines/build/runs", { body: { params: { version: "1", colour: "red" } } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toEqual({ code: "unknown_params", message: "pipeline 'build' declares no param 'colour'; it takes target, version" });
    const missing = await api("POST", "/api/v1/projects/params-bad/pipelines/build/runs", { body: {} });
    expect(missing.status).toBe(400);
    expect(missing.json.error).toEqual({ code: "missing_params", message: "pipeline 'build' needs a value for 'version'" });
    const noPipeline = await api("POST", "/api/v1/projects/params-bad/pipelines/nope/runs", { body: {} });
    expect(noPipeline.status).toBe(404);
    expect(noPipeline.json.error.code).toBe("pipeline_not_found");
    const noProject = await api("POST", "/api/v1/projects/nope/pipelines/build/runs", { body: {} });
    expect(noProject.status).toBe(404);
    expect(noProject.json.error.code).toBe("project_not_found");
    for (const body of [{ branch: "" }, { commit: "a b" }, { params: { version: { nested: true } } }, { params: [] }]) {
      const bad = await api("POST", "/api/v1/projects/params-bad/pipelines/build/runs", { body });
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(bad.json.error.code).toBe("invalid_request");
      expect(bad.json.error.details.issues.length).toBeGreaterThan(0);
    }
    expect(await runCount()).toBe(before);
    const ok = await api("POST", "/api/v1/projects/params-bad/pipelines/build/runs", { body: { params: { version: "1" } } });
    expect(ok.json.number).toBe(1);
  });
});

describe("listing runs", () => {
  it("filters by project, pipeline, status and branch, newest first", async () => {
    await projectWithPipeline("filters");
    await api("PUT", "/api/v1/projects/filters/pipelines/other", { raw: PIPELINE, headers: { "content-type": "text/plain" } });
    const trigger = (pipeline: string, branch: string) => api("POST", `/api/v1/projects/filters/pipelines/${pipeline}/runs`, { body: { branch } });
    const a = (await trigger("build", "main")).json;
    const b = (await trigger("build", "dev")).json;
    const c = (await trigger("other", "main")).json;
    await api("POST", `/api/v1/runs/${b.id}/cancel`);
    // The list reads D1, a projection the RunObject updates right after the cancel: wait for it.
    for (let i = 0; i < 50 && (await api("GET", `/api/v1/runs?project=filters&status=KILLED`)).json.items.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const ids = async (query: string) => {
      const res = await api("GET", `/api/v1/runs?project=filters${query}`);
      expect(res.status).toBe(200);
      return res.json.items.map((r: any) => r.id);
    };
    expect(await ids("")).toEqual([c.id, b.id, a.id]);
    expect(await ids("&pipeline=build")).toEqual([b.id, a.id]);
    expect(await ids("&branch=main")).toEqual([c.id, a.id]);
    expect(await ids("&status=KILLED")).toEqual([b.id]);
    expect(await ids("&status=CREATED,KILLED&pipeline=build&branch=dev")).toEqual([b.id]);
    const item = (await api("GET", `/api/v1/runs?project=filters&status=KILLED`)).json.items[0];
    expect(item).toMatchObject({ id: b.id, number: 2, project: "filters", pipeline: "build", branch: "dev", status: "KILLED", attempt: 1 });
  });

  it.each(["status=DONE", "limit=0", "limit=101", "limit=ten", "cursor=42", "project=Not_A_Slug"])("refuses ?%s with 400 naming the parameter", async (query) => {
    const res = await api("GET", `/api/v1/runs?${query}`);
    expect(res.status).toBe(400);
    expect(res.json.error.details.issues[0].path).toBe(query.split("=")[0]);
  });
});

describe("job logs", () => {
  it("serves a job's log as text with ANSI kept; 404 for an unknown job or attempt", async () => {
    await projectWithPipeline("logs", labelledPipeline("logs"));
    const agent = await agentWith("logs");
    const runId = (await api("POST", "/api/v1/projects/logs/pipelines/build/runs", { body: {} })).json.id;
    const claimed = await claimNext(agent.token);
    const bytes = new TextEncoder().encode("\u001b[32mok\u001b[0m compiled\n");
    expect((await job(claimed.token, claimed.job.attemptId).log(0, 0, bytes)).status).toBe(200);
    await runClaimed(claimed, "SUCCESS");
    const log = await api("GET", `/api/v1/runs/${runId}/jobs/${claimed.job.key}/log`);
    expect(log.status).toBe(200);
    expect(log.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(log.text).toBe("\u001b[32mok\u001b[0m compiled\n");
    expect((await api("GET", `/api/v1/runs/${runId}/jobs/${claimed.job.key}/log?attempt=1&runAttempt=1`)).text).toBe(log.text);

    const noJob = await api("GET", `/api/v1/runs/${runId}/jobs/nope/log`);
    expect(noJob.status).toBe(404);
    expect(noJob.json.error.code).toBe("job_not_found");
    expect((await api("GET", `/api/v1/runs/${runId}/jobs/${claimed.job.key}/log?attempt=2`)).json.error.code).toBe("job_attempt_not_found");
    expect((await api("GET", `/api/v1/runs/${runId}/jobs/${claimed.job.key}/log?runAttempt=2`)).json.error.code).toBe("attempt_not_found");
    expect((await api("GET", `/api/v1/runs/${runId}/jobs/${claimed.job.key}/log?attempt=0`)).status).toBe(400);
    expect((await api("GET", "/api/v1/runs/0190a0a0-0000-7000-8000-000000000000/jobs/build/log")).status).toBe(404);
  });
});
