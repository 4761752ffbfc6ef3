/** Steps' `if:` and the failing exit code, with a real agent job runner and real processes. */
import { describe, expect, it } from "vitest";
import { runStepGraph, type StepDone } from "../../../agent/step-graph.ts";
import { final, runJob, statuses, eachTestServer } from "./helpers.ts";
import { makeAssignment } from "./protocol-server.ts";

const ctx = eachTestServer();

describe("steps' if:", () => {
  it("skips a false step (KILLED skipped) without failing the job, and reads run, params, needs and step outputs", async () => {
    const job = makeAssignment({
      run: { id: "r", number: 7, project: "proj", pipeline: "build", branch: "dev", commit: null, trigger: "manual", attempt: 1 },
      conditions: { params: { target: "prod" }, needs: { build: { result: "success", outputs: { version: "2" } } } },
      steps: [
        { id: "a", run: `echo "go=yes" >> "$YM_OUTPUT"` },
        { id: "main-only", needs: ["a"], if: "${{ run.branch == 'main' }}", run: "echo main" },
        { id: "after", needs: ["main-only"], run: "echo after" },
        { id: "reads", needs: ["a"], if: "steps.a.outputs.go == 'yes' && params.target == 'prod' && needs.build.outputs.version == 2 && needs.build.result == 'success'", run: "echo reads" },
      ],
    });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(statuses(r.steps, "main-only")).toEqual([[1, "KILLED"]]);
    expect(final(r.steps, "main-only")!.reason).toBe("skipped");
    // The step after a skipped one runs (as in GitHub Actions), and so does the one whose condition holds.
    expect(final(r.steps, "after")!.status).toBe("SUCCESS");
    expect(final(r.steps, "reads")!.status).toBe("SUCCESS");
    expect(ctx.server.job(job.job.attemptId).finish).toMatchObject({ status: "SUCCESS" });
  });

  it("runs a failure() step after a failed one, and reports the failing exit code", async () => {
    const job = makeAssignment({
      steps: [
        { id: "test", run: "exit 75" },
        { id: "deploy", needs: ["test"], run: "echo deploy" },
        { id: "cleanup", needs: ["deploy"], if: "failure()", run: "echo cleanup" },
        { id: "notify", needs: ["test"], if: "${{ success() }}", run: "echo notify" },
      ],
    });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(final(r.steps, "deploy")!.reason).toBe("needs_failed");
    expect(final(r.steps, "cleanup")!.status).toBe("SUCCESS");
    expect(final(r.steps, "notify")).toMatchObject({ status: "KILLED", reason: "skipped" });
    expect(ctx.server.job(job.job.attemptId).finish).toMatchObject({ status: "FAILED", reason: "step_failed", exitCode: 75 });
  });
});

describe("the step graph's conditions", () => {
  const graph = async (steps: { id: string; needs?: string[]; if?: string; continueOnError?: boolean }[], failing: string[] = []) => {
    const ran: string[] = [];
    const done = await runStepGraph(
      steps.map((s) => ({ needs: [], continueOnError: false, ...s })),
      {
        run: async (s) => {
          ran.push(s.id);
          return failing.includes(s.id) ? "FAILED" : "SUCCESS";
        },
        skip: () => {},
        stopReason: () => null,
      },
    );
    return { ran, done: Object.fromEntries([...done].map(([id, d]: [string, StepDone]) => [id, d.skipped ?? d.status])) };
  };

  it("always() runs after anything; a tolerated failure is not failure(); steps.x.result reads the outcome", async () => {
    const r = await graph(
      [
        { id: "soft", continueOnError: true },
        { id: "hard", needs: ["soft"] },
        { id: "on-fail", needs: ["hard"], if: "failure()" },
        { id: "always", needs: ["hard"], if: "always() && steps.hard.result == 'failure'" },
        { id: "soft-only", needs: ["soft"], if: "failure()" },
      ],
      ["soft", "hard"],
    );
    expect(r.done).toEqual({ soft: "FAILED", hard: "FAILED", "on-fail": "SUCCESS", always: "SUCCESS", "soft-only": "skipped" });
  });
});
