/**
 * Approval jobs through the API (issue 17), with the other jobs driven over the real agent
 * protocol: the job waits without an agent, an approval's inputs feed the next job, a
 * rejection fails it, and bad decisions are refused with a clear 4xx.
 */
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { agentWith, claimNext, getRun, jobOf, runClaimed } from "./run-helpers.ts";

const pipeline = (label: string) => `name: build
jobs:
  build:
    runs-on: [${label}]
    steps:
      - id: compile
        run: make
  approve:
    needs: [build]
    type: approval
    approval: { prompt: "Ship it?", inputs: { reason: { type: string } } }
  deploy:
    needs: [approve]
    runs-on: [${label}]
    steps:
      - id: ship
        run: ./deploy.sh "\${{ needs.approve.outputs.reason }}"
`;

async function waitingForApproval(slug: string) {
  await projectWithPipeline(slug, pipeline(slug));
  const agent = await agentWith(slug);
  const created = await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`, { body: { branch: "main" } });
  expect(created.status).toBe(201);
  const runId = created.json.id as string;
  await runClaimed(await claimNext(agent.token), "SUCCESS");
  const run = await getRun(runId);
  expect(jobOf(run, "approve")).toMatchObject({ status: "CREATED", waitingOn: ["approval"], approval: { prompt: "Ship it?" } });
  // Nothing of it is in the queue: an approval needs no agent.
  const queue = (await api("GET", "/api/v1/queue")).json;
  expect(queue.pending.filter((e: { runId: string }) => e.runId === runId)).toEqual([]);
  return { agent, runId };
}

/** Waits until the runs list (D1) says the run's approval jobs waiting are `expected`. */
async function listedAwaiting(slug: string, runId: string, expected: string[] | undefined) {
  const awaiting = async () =>
    ((await api("GET", `/api/v1/runs?project=${slug}`)).json.items as { id: string; awaitingApproval?: string[] }[]).find((r) => r.id === runId)?.awaitingApproval;
  for (let i = 0; i < 100 && JSON.stringify(await awaiting()) !== JSON.stringify(expected); i++) await new Promise((r) => setTimeout(r, 20));
  expect(await awaiting()).toEqual(expected);
}

describe("approval jobs", () => {
  it("an approval's inputs become its outputs and feed the next job; the approver is recorded", async () => {
    const { agent, runId } = await waitingForApproval("approve-ok");
    await listedAwaiting("approve-ok", runId, ["approve"]);
    const approved = await api("POST", `/api/v1/runs/${runId}/jobs/approve/approve`, { body: { inputs: { reason: "all green" } } });
    expect(approved.status, approved.text).toBe(200);
    // The runs list no longer marks it (it read D1, which the run updates right after).
    await listedAwaiting("approve-ok", runId, undefined);
    const approve = jobOf(approved.json, "approve");
    expect(approve).toMatchObject({ status: "SUCCESS", outputs: { reason: "all green" } });
    expect(approve.attempts[0]).toMatchObject({ decidedBy: "admin", message: "approved by admin", agent: null });
    const deploy = await claimNext(agent.token);
    expect(deploy.steps[0]!.run).toBe('./deploy.sh "all green"');
    await runClaimed(deploy, "SUCCESS");
    expect((await getRun(runId)).status).toBe("SUCCESS");

    const again = await api("POST", `/api/v1/runs/${runId}/jobs/approve/reject`, { body: {} });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("job_not_awaiting_approval");
    // The run shows who approved it; the refused rejection is not recorded.
    const admin = { kind: "system", id: "admin-token", name: "admin token" };
    expect((await api("GET", `/api/v1/runs/${runId}`)).json.actions.map((a: { action: string; actor: unknown }) => [a.action, a.actor])).toEqual([
      ["run.trigger", admin],
      ["run.approve", admin],
    ]);
  });

  it("a rejection fails the job with its reason, and bad decisions are refused", async () => {
    const { runId } = await waitingForApproval("approve-no");
    const cases: [string, unknown, number, string | null][] = [
      ["approve", { inputs: {} }, 400, "missing_input"],
      ["approve", { inputs: { reason: 1 } }, 400, "invalid_input"],
      ["approve", { inputs: { reason: "x", other: "y" } }, 400, "unknown_input"],
      ["approve", { input: {} }, 400, null],
      ["reject", { reason: 5 }, 400, null],
    ];
    for (const [verb, body, status, code] of cases) {
      const res = await api("POST", `/api/v1/runs/${runId}/jobs/approve/${verb}`, { body });
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.json.error.message.length).toBeGreaterThan(0);
      if (code) expect(res.json.error.code).toBe(code);
    }
    const notApproval = await api("POST", `/api/v1/runs/${runId}/jobs/build/approve`, { body: {} });
    expect([notApproval.status, notApproval.json.error.code]).toEqual([409, "job_not_approval"]);
    const unknown = await api("POST", `/api/v1/runs/${runId}/jobs/nope/approve`, { body: {} });
    expect([unknown.status, unknown.json.error.code]).toEqual([404, "job_not_found"]);

    const rejected = await api("POST", `/api/v1/runs/${runId}/jobs/approve/reject`, { body: { reason: "not on a Friday" } });
    expect(rejected.status).toBe(200);
    expect(jobOf(rejected.json, "approve").attempts[0]).toMatchObject({ status: "FAILED", reason: "rejected", message: "rejected by admin: not on a Friday" });
    expect(jobOf(rejected.json, "deploy").attempts[0]).toMatchObject({ status: "KILLED", reason: "needs_failed" });
    expect(rejected.json.status).toBe("FAILED");
    // Only the decision that happened is in the audit log, none of the refused ones.
    expect((await api("GET", `/api/v1/runs/${runId}`)).json.actions.map((a: { action: string }) => a.action)).toEqual(["run.trigger", "run.reject"]);
  });
});
