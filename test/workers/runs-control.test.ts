/**
 * Cancel and re-run through the API, with jobs driven by agents over the real agent protocol:
 * cancel moves running jobs through KILLING to KILLED and queued ones straight to KILLED, and
 * frees their queue slots; re-run adds attempt N+1 (all jobs, or failed-only reusing the kept
 * jobs' outputs) and leaves attempt N exactly as it was.
 */
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { job } from "./agent-client.ts";
import { agentWith, claimNext, getRun, jobOf, labelledPipeline, runClaimed } from "./run-helpers.ts";

const history = (entity: { history: { to: string }[] }) => entity.history.map((h) => h.to);

async function startRun(slug: string) {
  await projectWithPipeline(slug, labelledPipeline(slug));
  const agent = await agentWith(slug);
  const run = await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`, { body: { branch: "main" } });
  expect(run.status).toBe(201);
  return { agent, runId: run.json.id as string };
}

describe("cancel", () => {
  it("a running job goes KILLING until its agent confirms; queued and waiting jobs end KILLED at once", async () => {
    const { agent, runId } = await startRun("cancel-running");
    const build = await claimNext(agent.token);
    expect(build.job.key).toBe("build");
    const j = job(build.token, build.job.attemptId);
    expect((await j.step("compile", { attempt: 1, status: "RUNNING" })).status).toBe(200);

    const cancelled = await api("POST", `/api/v1/runs/${runId}/cancel`);
    expect(cancelled.status).toBe(200);
    const run = cancelled.json;
    expect(run.status).toBe("KILLING");
    expect(jobOf(run, "build").status).toBe("KILLING");
    for (const key of ["lint", "test", "deploy"]) {
      const attempt = jobOf(run, key).attempts[0];
      expect(attempt.status, key).toBe("KILLED");
      expect(attempt.reason, key).toBe("cancelled");
      expect(history(attempt), key).toEqual(["CREATED", "KILLED"]);
    }
    // Nothing of the run is left to claim.
    const queue = (await api("GET", "/api/v1/queue")).json;
    expect(queue.pending.filter((e: any) => e.runId === runId)).toEqual([]);

    // The agent hears it on its heartbeat, stops, and confirms; whatever it reports, the job ends KILLED.
    expect((await j.heartbeat()).json).toEqual({ cancel: true });
    expect((await j.finish({ status: "SUCCESS", outputs: {} })).status).toBe(200);
    const ended = await getRun(runId);
    expect(ended.status).toBe("KILLED");
    expect(ended.attempts[0].status).toBe("KILLED");
    const buildAttempt = jobOf(ended, "build").attempts[0];
    expect(history(buildAttempt)).toEqual(["CREATED", "RUNNING", "KILLING", "KILLED"]);
    expect(buildAttempt.steps[0].status).toBe("KILLED");
    expect(history(ended)).toEqual(["CREATED", "RUNNING", "KILLING", "KILLED"]);
    // Its agent's slot is free again: the queue shows nothing of this run running.
    const after = (await api("GET", "/api/v1/queue")).json;
    expect(after.running.filter((e: any) => e.runId === runId)).toEqual([]);
    // The job token no longer works.
    expect((await j.heartbeat()).status).toBe(410);

    const again = await api("POST", `/api/v1/runs/${runId}/cancel`);
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("run_finished");
    expect(await getRun(runId)).toEqual(ended);
  });

  it("a cancelled attempt ends KILLED even when one of its jobs had failed", async () => {
    const { agent, runId } = await startRun("cancel-after-fail");
    const first = await claimNext(agent.token);
    const second = await claimNext(agent.token);
    const lint = [first, second].find((c) => c.job.key === "lint")!;
    const build = [first, second].find((c) => c.job.key === "build")!;
    await runClaimed(lint, "FAILED");
    expect((await getRun(runId)).status).toBe("RUNNING");
    await api("POST", `/api/v1/runs/${runId}/cancel`);
    await job(build.token, build.job.attemptId).finish({ status: "KILLED", outputs: {} });
    const run = await getRun(runId);
    expect(jobOf(run, "lint").status).toBe("FAILED");
    expect(run.attempts[0].status).toBe("KILLED");
    expect(run.status).toBe("KILLED");
  });

  it("answers 404 for an unknown run", async () => {
    const res = await api("POST", "/api/v1/runs/0190a0a0-0000-7000-8000-00000000c0de/cancel");
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe("run_not_found");
  });
});

describe("re-run", () => {
  it("failedOnly re-runs the failed job and everything downstream, reusing the kept jobs' outputs; attempt 1 stays as it was", async () => {
    const { agent, runId } = await startRun("rerun-failed");
    // Attempt 1: build succeeds with version 1.2, lint succeeds, test fails, deploy is not run.
    for (let i = 0; i < 2; i++) {
      const claimed = await claimNext(agent.token);
      await runClaimed(claimed, "SUCCESS", claimed.job.key === "build" ? { version: "1.2" } : {});
    }
    await runClaimed(await claimNext(agent.token), "FAILED");
    const failed = await getRun(runId);
    expect(failed.status).toBe("FAILED");
    expect(jobOf(failed, "deploy").attempts[0]).toMatchObject({ status: "KILLED", reason: "needs_failed" });

    const rerun = await api("POST", `/api/v1/runs/${runId}/rerun`, { body: { failedOnly: true } });
    expect(rerun.status).toBe(201);
    const second = rerun.json;
    expect(second).toMatchObject({ status: "CREATED", attempt: 2 });
    expect(second.attempts[0]).toEqual(failed.attempts[0]);
    expect(second.attempts[1]).toMatchObject({ number: 2, status: "CREATED", failedOnly: true });
    expect(history(second).slice(-3)).toEqual(["FAILED", "RESTARTED", "CREATED"]);
    for (const key of ["build", "lint"]) {
      expect(jobOf(second, key)).toMatchObject({ status: "SUCCESS", reused: { attempt: 1, jobId: jobOf(failed, key).id }, attempts: [] });
    }
    expect(jobOf(second, "build").outputs).toEqual({ version: "1.2" });
    for (const key of ["test", "deploy"]) expect(jobOf(second, key).attempts.map((a: any) => a.status)).toEqual(["CREATED"]);

    // Attempt 2 runs only test and deploy; deploy gets the version build made in attempt 1.
    const test = await claimNext(agent.token);
    expect(test.job.key).toBe("test");
    expect(test.run.attempt).toBe(2);
    await runClaimed(test, "SUCCESS");
    const deploy = await claimNext(agent.token);
    expect(deploy.job.key).toBe("deploy");
    expect(deploy.steps[0]!.run).toBe("./deploy.sh 1.2");
    await runClaimed(deploy, "SUCCESS");

    const done = await getRun(runId);
    expect(done.status).toBe("SUCCESS");
    expect(done.attempts.map((a: any) => a.status)).toEqual(["FAILED", "SUCCESS"]);
    expect(done.attempts[0]).toEqual(failed.attempts[0]);

    // A successful run is not re-run (DESIGN.md §3): trigger a new run instead.
    const refused = await api("POST", `/api/v1/runs/${runId}/rerun`, { body: {} });
    expect(refused.status).toBe(409);
    expect(refused.json.error.code).toBe("run_not_rerunnable");
    expect((await getRun(runId)).attempt).toBe(2);
  });

  it("a full re-run runs every job again as attempt N+1", async () => {
    const { agent, runId } = await startRun("rerun-all");
    await runClaimed(await claimNext(agent.token), "FAILED");
    await api("POST", `/api/v1/runs/${runId}/cancel`);
    const before = await getRun(runId);
    const rerun = await api("POST", `/api/v1/runs/${runId}/rerun`);
    expect(rerun.status).toBe(201);
    expect(rerun.json.attempts[0]).toEqual(before.attempts[0]);
    expect(rerun.json.attempts[1].failedOnly).toBe(false);
    for (const j of rerun.json.attempts[1].jobs) {
      expect(j.reused).toBeNull();
      expect(j.attempts.map((a: any) => a.status)).toEqual(["CREATED"]);
    }
    const claimed = [await claimNext(agent.token), await claimNext(agent.token)];
    expect(claimed.map((c) => c.job.key).sort()).toEqual(["build", "lint"]);
    expect(claimed.every((c) => c.run.attempt === 2)).toBe(true);
  });

  it("refuses a run that is still going (409) and a failed-only re-run with nothing failed (409)", async () => {
    const { agent, runId } = await startRun("rerun-refused");
    const going = await api("POST", `/api/v1/runs/${runId}/rerun`, { body: { failedOnly: true } });
    expect(going.status).toBe(409);
    expect(going.json.error.code).toBe("run_not_rerunnable");
    expect((await getRun(runId)).attempts).toHaveLength(1);

    // A WARNING run (a job ended WARNING) has nothing failed to re-run on its own.
    for (let i = 0; i < 4; i++) {
      const claimed = await claimNext(agent.token);
      const j = job(claimed.token, claimed.job.attemptId);
      for (const s of claimed.steps) {
        await j.step(s.id, { attempt: 1, status: "RUNNING" });
        await j.step(s.id, { attempt: 1, status: "SUCCESS", exitCode: 0 });
      }
      await j.finish({ status: claimed.job.key === "lint" ? "WARNING" : "SUCCESS", outputs: {} });
    }
    expect((await getRun(runId)).status).toBe("WARNING");
    const nothing = await api("POST", `/api/v1/runs/${runId}/rerun`, { body: { failedOnly: true } });
    expect(nothing.status).toBe(409);
    expect(nothing.json.error.code).toBe("nothing_to_rerun");
    const all = await api("POST", `/api/v1/runs/${runId}/rerun`, { body: { failedOnly: false } });
    expect(all.status).toBe(201);
    expect(all.json.attempt).toBe(2);
  });

  it("refuses a malformed body (400) and an unknown run (404)", async () => {
    const { runId } = await startRun("rerun-bad");
    await api("POST", `/api/v1/runs/${runId}/cancel`);
    const bad = await api("POST", `/api/v1/runs/${runId}/rerun`, { body: { failedOnly: "yes" } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.details.issues[0].path).toBe("failedOnly");
    expect((await getRun(runId)).attempts).toHaveLength(1);
    expect((await api("POST", "/api/v1/runs/0190a0a0-0000-7000-8000-00000000c0de/rerun", { body: {} })).status).toBe(404);
  });
});
