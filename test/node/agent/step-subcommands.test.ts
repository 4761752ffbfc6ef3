/**
 * `yardmaster-agent` inside a step: on PATH (a shim running this very agent), with the job's
 * YM_URL, YM_JOB_TOKEN and YM_JOB_ATTEMPT_ID; `pipeline upload` sends the file and fails the
 * step, with each problem's line and column, when the server refuses it. Real processes and a
 * real HTTP ctx.server.
 */
import { chmod } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { stepBaseEnv } from "../../../agent/config.ts";
import { JobRunner } from "../../../agent/job-runner.ts";
import { silentLogger } from "../../../agent/logger.ts";
import { resolveStepUser } from "../../../agent/run-as.ts";
import { agentEntry } from "../../../agent/step-shim.ts";
import { runSubcommand } from "../../../agent/subcommands.ts";
import { final, runJob, testApi, eachTestServer } from "./helpers.ts";
import { makeAssignment } from "./protocol-server.ts";

const ctx = eachTestServer();

const BUILD = "jobs:\n  test:\n    needs: [bootstrap]\n    runs-on: [linux]\n    steps: [{ run: make test }]\n";

function capture() {
  const out = { stdout: "", stderr: "" };
  return {
    out,
    io: { stdout: (t: string) => void (out.stdout += t), stderr: (t: string) => void (out.stderr += t), stdin: async () => BUILD },
  };
}

describe("yardmaster-agent inside a step", () => {
  it("is on PATH with the job's URL, token, attempt id and protocol; pipeline upload sends the file; the token is masked in the log", async () => {
    const job = makeAssignment({
      steps: [
        {
          id: "upload",
          run: [
            `printf '${BUILD.replaceAll("\n", "\\n")}' > build.act`,
            `echo "where=$(command -v yardmaster-agent)" >> "$YM_OUTPUT"`,
            `echo "url=$YM_URL" >> "$YM_OUTPUT"`,
            `echo "attempt=$YM_JOB_ATTEMPT_ID" >> "$YM_OUTPUT"`,
            `echo "protocol=$YM_AGENT_PROTOCOL" >> "$YM_OUTPUT"`,
            `test "$YM_JOB_TOKEN" = "${"$"}{EXPECTED_TOKEN}" && echo "token-ok=yes" >> "$YM_OUTPUT"`,
            `echo "token: $YM_JOB_TOKEN"`,
            "yardmaster-agent pipeline upload build.act",
          ].join("\n"),
        },
      ],
    });
    job.steps[0]!.env = { EXPECTED_TOKEN: job.token };
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(r.outcome.status, r.log).toBe("SUCCESS");
    const outputs = final(r.steps, "upload")!.outputs!;
    expect(outputs.where).toMatch(/\/bin\/yardmaster-agent$/);
    expect(outputs.url).toBe(ctx.server.url);
    expect(outputs.attempt).toBe(job.job.attemptId);
    expect(outputs.protocol).toBe(String(job.protocol)); // what `artifact upload` reads
    expect(outputs["token-ok"]).toBe("yes");
    expect(ctx.server.pipelineUploads).toEqual([{ attemptId: job.job.attemptId, text: BUILD, contentType: "text/plain; charset=utf-8" }]);
    expect(r.log).toContain("uploaded build.act: added 1 job to the run: test");
    expect(r.log).not.toContain(job.token);
    expect(r.log).toContain("token: ***");
  }, 30_000);

  it("fails the step when the file has problems, printing each with its line and column (exit 1)", async () => {
    ctx.server.pipelineAnswer = () => ({
      status: 400,
      body: {
        error: {
          code: "invalid_pipeline",
          message: "line 3, column 13: jobs form a cycle: a → b → a",
          details: { problems: [{ message: "jobs form a cycle: a → b → a", line: 3, column: 13, path: ["jobs", "a", "needs", 0] }] },
        },
      },
    });
    const job = makeAssignment({ steps: [{ id: "upload", run: "echo 'jobs: {}' | yardmaster-agent pipeline upload -" }] });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(r.outcome.status).toBe("FAILED");
    expect(final(r.steps, "upload")).toMatchObject({ status: "FAILED", exitCode: 1 });
    expect(r.log).toContain("stdin has 1 problem; no job was added:");
    expect(r.log).toContain("stdin:3:13: jobs form a cycle: a → b → a");
  }, 30_000);

  it("says what is wrong and exits 1 on a refusal, 2 on usage and outside a step", async () => {
    const job = makeAssignment({ steps: [{ id: "s", run: "true" }] });
    ctx.server.addJob(job);
    const env = { YM_URL: ctx.server.url, YM_JOB_TOKEN: job.token, YM_JOB_ATTEMPT_ID: job.job.attemptId };

    ctx.server.pipelineAnswer = () => ({ status: 409, body: { error: { code: "job_keys_taken", message: 'the run already has job "test"; give the uploaded jobs other keys' } } });
    const refused = capture();
    expect(await runSubcommand(["pipeline", "upload", "-"], env, refused.io)).toBe(1);
    expect(refused.out.stderr).toContain('pipeline upload refused (HTTP 409 job_keys_taken): the run already has job "test"');

    const outside = capture();
    expect(await runSubcommand(["pipeline", "upload", "x.act"], {}, outside.io)).toBe(2);
    expect(outside.out.stderr).toContain("run this inside a step of a Yardmaster job");

    const unknown = capture();
    expect(await runSubcommand(["pipeline", "download"], env, unknown.io)).toBe(2);
    expect(unknown.out.stderr).toContain("unknown command 'pipeline download'");

    const missing = capture();
    expect(await runSubcommand(["pipeline", "upload", `${ctx.dir}/nope.act`], env, missing.io)).toBe(1);
    expect(missing.out.stderr).toContain("cannot read");

    const bad = capture();
    expect(await runSubcommand(["pipeline", "upload", "-"], { ...env, YM_JOB_TOKEN: "wrong" }, bad.io)).toBe(1);
    expect(bad.out.stderr).toContain("HTTP 401");
  });

  it("writes the assignment's notices (a fork's run without secrets) at the top of the job's log", async () => {
    const job = makeAssignment({ notices: ["This run is of a pull request from a fork: it gets no project secrets"], steps: [{ id: "s", run: "echo step" }] });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(r.log.indexOf("pull request from a fork")).toBeGreaterThanOrEqual(0);
    expect(r.log.indexOf("pull request from a fork")).toBeLessThan(r.log.indexOf("step s"));
  });

  it.skipIf(process.getuid?.() !== 0)("works under --run-as: the step's user runs the shim and uploads", async () => {
    const resolved = resolveStepUser("nobody");
    if (!resolved.ok) throw new Error(resolved.message);
    await chmod(ctx.dir, 0o755); // the user passes through to its work dir
    const job = makeAssignment({ steps: [{ id: "upload", run: `echo "uid=$(id -u)" >> "$YM_OUTPUT"\nprintf '${BUILD.replaceAll("\n", "\\n")}' | yardmaster-agent pipeline upload -` }] });
    ctx.server.addJob(job);
    const runner = new JobRunner({
      api: testApi(ctx.server),
      assignment: job,
      workDir: ctx.dir,
      baseEnv: stepBaseEnv({ PATH: process.env.PATH, HOME: process.env.HOME }),
      killGraceMs: 300,
      logger: silentLogger,
      log: { flushIntervalMs: 20 },
      user: resolved.user,
    });
    const outcome = await runner.run();
    const record = ctx.server.job(job.job.attemptId);
    expect(outcome.status, record.log.toString()).toBe("SUCCESS");
    expect(final(record.steps, "upload")!.outputs).toEqual({ uid: "65534" });
    expect(ctx.server.pipelineUploads.map((u) => u.text)).toEqual([BUILD]);
  }, 30_000);

  it("runs the bundle itself when the agent runs from it", () => {
    expect(agentEntry("file:///opt/ym/yardmaster-agent.mjs")).toEqual({ node: process.execPath, args: ["/opt/ym/yardmaster-agent.mjs"] });
    expect(agentEntry("file:///repo/agent/step-shim.ts").args).toEqual(["--experimental-strip-types", "--no-warnings", "/repo/agent/cli.ts"]);
  });
});
