/**
 * Re-running chosen jobs through the API (issue 17), with jobs driven over the real agent
 * protocol: a SUCCESS run re-runs the jobs named and their dependants as attempt N+1, the
 * others carry over with their outputs, and attempt N stays exactly as it was.
 */
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { agentWith, claimNext, getRun, jobOf, labelledPipeline, runClaimed } from "./run-helpers.ts";

async function succeededRun(slug: string) {
  await projectWithPipeline(slug, labelledPipeline(slug));
  const agent = await agentWith(slug);
  const created = await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`, { body: { branch: "main" } });
  expect(created.status).toBe(201);
  const runId = created.json.id as string;
  for (let i = 0; i < 4; i++) {
    const claimed = await claimNext(agent.token);
    await runClaimed(claimed, "SUCCESS", claimed.job.key === "build" ? { version: "1.2" } : {});
  }
  expect((await getRun(runId)).status).toBe("SUCCESS");
  return { agent, runId };
}

describe("POST /api/v1/runs/:run/rerun {jobs}", () => {
  it("re-runs a chosen job of a SUCCESS run and its dependants; the others carry over", async () => {
    const { agent, runId } = await succeededRun("rerun-chosen");
    const before = await getRun(runId);

    const rerun = await api("POST", `/api/v1/runs/${runId}/rerun`, { body: { jobs: ["test"] } });
    expect(rerun.status, rerun.text).toBe(201);
    const run = rerun.json;
    expect(run.status).toBe("CREATED");
    expect(run.history.map((h: { from: string | null; to: string }) => `${h.from}>${h.to}`).slice(-2)).toEqual(["SUCCESS>RESTARTED", "RESTARTED>CREATED"]);
    expect(run.attempts[0]).toEqual(before.attempts[0]);
    expect(run.attempts[1].rerunJobs).toEqual(["test"]);
    for (const key of ["build", "lint"]) expect(jobOf(run, key).reused, key).toEqual({ attempt: 1, jobId: jobOf(before, key, 1).id });
    for (const key of ["test", "deploy"]) expect(jobOf(run, key).attempts.map((a: { status: string }) => a.status), key).toEqual(["CREATED"]);

    const test = await claimNext(agent.token);
    expect([test.job.key, test.run.attempt]).toEqual(["test", 2]);
    await runClaimed(test, "SUCCESS");
    const deploy = await claimNext(agent.token);
    // The kept build's outputs feed the job that runs again.
    expect(deploy.steps[0]!.run).toBe("./deploy.sh 1.2");
    await runClaimed(deploy, "SUCCESS");
    const done = await getRun(runId);
    expect(done.status).toBe("SUCCESS");
    expect(done.attempts.map((a: { status: string }) => a.status)).toEqual(["SUCCESS", "SUCCESS"]);
  });

  it("refuses unknown jobs, an empty list, both options, unknown fields (400), and a full re-run of a SUCCESS run (409)", async () => {
    const { runId } = await succeededRun("rerun-chosen-refused");
    const cases: [unknown, number, string | null][] = [
      [{ jobs: ["nope"] }, 400, "unknown_job"],
      [{ jobs: [] }, 400, null],
      [{ jobs: ["test"], failedOnly: true }, 400, "rerun_conflict"],
      [{ job: ["test"] }, 400, null],
      [{ jobs: "test" }, 400, null],
      [{}, 409, "run_not_rerunnable"],
    ];
    for (const [body, status, code] of cases) {
      const res = await api("POST", `/api/v1/runs/${runId}/rerun`, { body });
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.json.error.message.length, JSON.stringify(body)).toBeGreaterThan(0);
      if (code) expect(res.json.error.code, JSON.stringify(body)).toBe(code);
    }
    expect((await getRun(runId)).attempts).toHaveLength(1);
  });
});
