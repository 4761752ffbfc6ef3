/** A job's `artifacts:` are uploaded when its steps fail, when it is cancelled, and when it times out (issue 18). */
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { eachTestServer, runJob } from "./helpers.ts";
import { makeAssignment } from "./protocol-server.ts";

const ctx = eachTestServer();

describe("artifacts of a job that did not succeed", () => {
  it("a failed step: the artifacts are uploaded, the log says why, the job stays FAILED", async () => {
    const job = makeAssignment({
      steps: [{ id: "test", run: "echo '<testsuite failures=\"1\"/>' > report.xml; exit 3" }],
      artifacts: ["report.xml"],
    });
    const record = ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(record.finish).toMatchObject({ status: "FAILED", reason: "step_failed" });
    expect([...record.artifacts.keys()]).toEqual(["report.xml"]);
    expect(r.log).toContain("artifacts (uploaded although the job failed)");
  });

  it("a cancelled job: what its steps wrote is uploaded, then it finishes KILLED", async () => {
    const job = makeAssignment({
      heartbeatIntervalMs: 100,
      steps: [{ id: "work", run: "echo partial > partial.log; sleep 60" }],
      artifacts: ["partial.log"],
    });
    const record = ctx.server.addJob(job);
    const cancelWhenWritten = setInterval(() => {
      // Cancelled once the step has written its file (the job runs in <workDir>/jobs/<attempt>).
      if (existsSync(path.join(ctx.dir, "jobs", job.job.attemptId, "partial.log"))) record.cancel = true;
    }, 200);
    const r = await runJob(ctx.server, job, ctx.dir);
    clearInterval(cancelWhenWritten);
    expect(record.finish).toMatchObject({ status: "KILLED", reason: "cancelled" });
    expect([...record.artifacts.keys()]).toEqual(["partial.log"]);
    expect(r.log).toContain("artifacts (uploaded although the job was cancelled)");
  });

  it("a timed-out job: what its steps wrote is uploaded, and the log says the job timed out", async () => {
    // The step writes its file at once, then outlives the job's timeout.
    const job = makeAssignment({ timeoutMs: 1500, steps: [{ id: "work", run: "echo partial > slow.log; sleep 60" }], artifacts: ["slow.log"] });
    const record = ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(record.finish).toMatchObject({ reason: "timeout" });
    expect([...record.artifacts.keys()]).toEqual(["slow.log"]);
    expect(r.log).toContain("artifacts (uploaded although the job timed out)");
  });
});
