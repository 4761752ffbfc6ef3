/** The history routes: a pipeline's trends, a project's branches (runs and webhooks), and why a queued job waits. */
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { job } from "./agent-client.ts";
import { agentWith, claimNext } from "./run-helpers.ts";
import { deliverGithub, pipelineFile, projectWithPipelines, pushTo } from "./webhook-client.ts";

const pipeline = (label: string) => `name: build
jobs:
  compile:
    runs-on: [${label}]
    steps:
      - id: make
        run: make
`;

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await read();
  for (let i = 0; i < 200 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 20));
    v = await read();
  }
  return v;
}

/** Starts a run on `branch` and lets the agent run it, reporting `files` as a metric. */
async function runOnce(slug: string, agentToken: string, branch: string, files: number, status: "SUCCESS" | "FAILED") {
  const run = (await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`, { body: { branch } })).json;
  const claimed = await claimNext(agentToken);
  const j = job(claimed.token, claimed.job.attemptId);
  expect((await j.step("make", { attempt: 1, status: "RUNNING" })).status).toBe(200);
  const end = await j.step("make", { attempt: 1, status, exitCode: status === "SUCCESS" ? 0 : 1, outputs: {}, metrics: [{ name: "files", kind: "counter", value: files }] });
  expect(end.status).toBe(200);
  expect((await j.finish({ status, outputs: {} })).status).toBe(200);
  return run.id as string;
}

describe("history routes", () => {
  it("gives a pipeline's last runs with durations, outcomes and step metrics, oldest first; and the branches seen", async () => {
    await projectWithPipeline("hist", pipeline("hist"));
    const agent = await agentWith("hist");
    const ids = [await runOnce("hist", agent.token, "main", 10, "SUCCESS"), await runOnce("hist", agent.token, "feature/x", 12, "FAILED"), await runOnce("hist", agent.token, "main", 15, "SUCCESS")];
    const trends = await until(
      async () => (await api("GET", "/api/v1/projects/hist/pipelines/build/trends?limit=10")).json,
      (t) => t.runs?.length === 3 && t.runs.every((r: any) => r.durationMs !== null && r.metrics.length === 1),
    );
    expect(trends.runs.map((r: any) => [r.id, r.status, r.branch])).toEqual([
      [ids[0], "SUCCESS", "main"],
      [ids[1], "FAILED", "feature/x"],
      [ids[2], "SUCCESS", "main"],
    ]);
    expect(trends.runs.map((r: any) => r.metrics)).toEqual([10, 12, 15].map((value) => [{ job: "compile", step: "make", name: "files", value }]));
    expect((await api("GET", "/api/v1/projects/hist/pipelines/build/trends?limit=2")).json.runs.map((r: any) => r.id)).toEqual(ids.slice(1));

    expect((await api("GET", "/api/v1/projects/hist/branches")).json.items).toEqual(["main", "feature/x"]);
  });

  it("offers the branches of webhook deliveries too, even those that started nothing, but not of refused ones", async () => {
    await projectWithPipelines("hist-hooks", { build: pipelineFile("hist-hooks", "{ push: { branches: [main] } }") });
    // No pipeline starts on feature/hook: nothing runs, yet the branch was seen.
    const ignored = await deliverGithub("hist-hooks", "push", pushTo("feature/hook"));
    expect(ignored.status, ignored.text).toBe(200);
    // A delivery whose signature does not check out could come from anyone: its branch is not offered.
    expect((await deliverGithub("hist-hooks", "push", pushTo("forged/branch"), { signature: "sha256=00" })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 5));
    expect((await api("POST", "/api/v1/projects/hist-hooks/pipelines/build/runs", { body: { branch: "release/1" } })).status).toBe(201);
    const branches = await until(
      async () => (await api("GET", "/api/v1/projects/hist-hooks/branches")).json.items as string[],
      (items) => items.length === 2,
    );
    expect(branches).toEqual(["release/1", "feature/hook"]);
  });

  it("refuses a bad limit and unknown pipelines with a clear 4xx", async () => {
    await projectWithPipeline("hist-bad", pipeline("hist-bad"));
    const bad = await api("GET", "/api/v1/projects/hist-bad/pipelines/build/trends?limit=0");
    expect(bad.status).toBe(400);
    const missing = await api("GET", "/api/v1/projects/hist-bad/pipelines/nope/trends");
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe("pipeline_not_found");
    expect((await api("GET", "/api/v1/projects/nope/branches")).status).toBe(404);
  });

  it("says why a queued job waits: no online agent carries its labels, named", async () => {
    await projectWithPipeline("hist-wait", "jobs:\n  train:\n    runs-on: [hist-linux, hist-gpu]\n    steps: [{run: x}]\n");
    await agentWith("hist-linux");
    const run = (await api("POST", "/api/v1/projects/hist-wait/pipelines/build/runs", { body: {} })).json;
    const jobAttemptId = run.attempts[0].jobs[0].attempts[0].id;
    const insight = await until(
      async () => (await api("GET", "/api/v1/queue/insight?queue=default")).json.items.find((i: any) => i.jobAttemptId === jobAttemptId),
      (i) => i !== undefined,
    );
    expect(insight).toMatchObject({ queue: "default", capableAgents: 0, startsInMs: null, missingLabels: ["hist-gpu"], durationMs: null, samples: 0 });
    expect(insight.position).toBeGreaterThanOrEqual(1);
    expect((await api("GET", "/api/v1/queue/insight?queue=nope")).status).toBe(404);
  });

  it("fails a job whose metric leaves the baseline of its last successful runs on the branch (read from D1)", async () => {
    await projectWithPipeline(
      "hist-gate",
      `name: build
jobs:
  compile:
    runs-on: [hist-gate]
    steps:
      - id: make
        run: make
    gates:
      - metric: make.files
        baseline: { runs: 2, tolerance: "10%" }
        fail: true
`,
    );
    const agent = await agentWith("hist-gate");
    // The first two have no baseline yet (too few runs): no gate.
    const first = [await runOnce("hist-gate", agent.token, "main", 10, "SUCCESS"), await runOnce("hist-gate", agent.token, "main", 11, "SUCCESS")];
    for (const id of first) expect((await api("GET", `/api/v1/runs/${id}`)).json.status).toBe("SUCCESS");
    // Both are in the D1 history before the third ends.
    await until(
      async () => (await api("GET", "/api/v1/projects/hist-gate/pipelines/build/trends")).json.runs,
      (runs) => runs.length === 2 && runs.every((r: any) => r.metrics.length === 1 && r.status === "SUCCESS"),
    );
    // Another branch's runs are not its baseline: no gate there yet.
    expect((await api("GET", `/api/v1/runs/${await runOnce("hist-gate", agent.token, "dev", 50, "SUCCESS")}`)).json.status).toBe("SUCCESS");
    const breached = await runOnce("hist-gate", agent.token, "main", 20, "SUCCESS");
    const run = (await api("GET", `/api/v1/runs/${breached}`)).json;
    expect(run.status).toBe("FAILED");
    expect(run.attempts[0].jobs[0].attempts[0]).toMatchObject({
      status: "FAILED",
      reason: "gate_breached",
      message: "gate make.files: 20 is above the baseline 10.5 ± 10% (mean of the last 2 successful runs)",
    });
  });
});
