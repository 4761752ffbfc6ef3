
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { processAlive } from "../../../agent/step-process.ts";
import { eachTestServer, final, runJob, statuses } from "./helpers.ts";
import { makeAssignment } from "./protocol-server.ts";

const ctx = eachTestServer();

const nanos = (label: string) => `echo ${label}=$(date +%s%N) >> "$YM_OUTPUT"`;

describe("job runner: the steps graph", () => {
  it("runs independent steps in parallel and a step after all its needs", async () => {
    const job = makeAssignment({
      steps: [
        { id: "a", run: `${nanos("start")}\nsleep 0.6\n${nanos("end")}` },
        { id: "b", run: `${nanos("start")}\nsleep 0.6\n${nanos("end")}` },
        { id: "c", needs: ["a", "b"], run: nanos("start") },
      ],
    });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(r.outcome.status).toBe("SUCCESS");
    const t = (id: string, k: string) => Number(final(r.steps, id)!.outputs![k]);
    // a and b overlap in time
    expect(t("a", "start")).toBeLessThan(t("b", "end"));
    expect(t("b", "start")).toBeLessThan(t("a", "end"));
    // c starts after both ended
    expect(t("c", "start")).toBeGreaterThanOrEqual(Math.max(t("a", "end"), t("b", "end")));
    expect(statuses(r.steps, "c")).toEqual([
      [1, "RUNNING"],
      [1, "SUCCESS"],
    ]);
    expect(ctx.server.job(job.job.attemptId).finish).toMatchObject({ status: "SUCCESS" });
  });

  it("passes outputs to later steps (run, env) and to the job's outputs; reports metrics", async () => {
    const job = makeAssignment({
      steps: [
        {
          id: "build",
          run: [
            `echo "version=1.2.3" >> "$YM_OUTPUT"`,
            `printf 'notes<<EOF\\nline one\\nline two\\nEOF\\n' >> "$YM_OUTPUT"`,
            `echo "tests=40" >> "$YM_METRICS"`,
            `echo "tests=2" >> "$YM_METRICS"`,
            `echo "compile=1500ms" >> "$YM_METRICS"`,
          ].join("\n"),
        },
        {
          id: "use",
          needs: ["build"],
          env: { V: "v${{ steps.build.outputs.version }}" },
          run: `echo "from_run=\${{ steps.build.outputs.version }}" >> "$YM_OUTPUT"\necho "from_env=$V" >> "$YM_OUTPUT"\necho 'other=\${{ needs.x.outputs.y }}' >> "$YM_OUTPUT"`,
        },
      ],
      outputs: { version: "${{ steps.build.outputs.version }}", notes: "${{ steps.build.outputs.notes }}", lit: "x" },
    });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(r.outcome.status).toBe("SUCCESS");
    expect(final(r.steps, "build")!.metrics).toEqual([
      { name: "tests", kind: "counter", value: 42 },
      { name: "compile", kind: "duration", value: 1.5 },
    ]);
    expect(final(r.steps, "use")!.outputs).toEqual({ from_run: "1.2.3", from_env: "v1.2.3", other: "${{ needs.x.outputs.y }}" });
    expect(ctx.server.job(job.job.attemptId).finish).toEqual({
      status: "SUCCESS",
      outputs: { version: "1.2.3", notes: "line one\nline two", lit: "x" },
    });
  });

  it("does not run a step whose need failed: KILLED needs_failed; the job FAILS", async () => {
    const job = makeAssignment({
      steps: [
        { id: "a", run: "echo failing; exit 3" },
        { id: "b", needs: ["a"], run: "echo should not run" },
        { id: "c", needs: ["b"], run: "echo should not run" },
        { id: "d", run: "true" },
      ],
    });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(final(r.steps, "a")).toMatchObject({ status: "FAILED", exitCode: 3 });
    expect(statuses(r.steps, "b")).toEqual([[1, "KILLED"]]);
    expect(final(r.steps, "b")!.reason).toBe("needs_failed");
    expect(final(r.steps, "c")!.reason).toBe("needs_failed");
    expect(final(r.steps, "d")!.status).toBe("SUCCESS");
    expect(r.log).not.toContain("should not run\n");
    expect(ctx.server.job(job.job.attemptId).finish).toMatchObject({ status: "FAILED", reason: "step_failed" });
  });

  it("continue-on-error: the step reports FAILED, its dependants run, the job is WARNING", async () => {
    const job = makeAssignment({
      steps: [
        { id: "lint", run: "exit 1", continueOnError: true },
        { id: "after", needs: ["lint"], run: "echo ran=yes >> $YM_OUTPUT" },
      ],
    });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(final(r.steps, "lint")).toMatchObject({ status: "FAILED", exitCode: 1 });
    expect(final(r.steps, "after")).toMatchObject({ status: "SUCCESS", outputs: { ran: "yes" } });
    expect(ctx.server.job(job.job.attemptId).finish).toMatchObject({ status: "WARNING" });
  });

  it("retries a failing step, each attempt numbered, with fresh output files", async () => {
    const script = [
      `[ ! -s "$YM_OUTPUT" ] || { echo "output file not fresh"; exit 99; }`,
      `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count`,
      `echo "attempt=$YM_STEP_ATTEMPT" >> "$YM_OUTPUT"`,
      `[ "$n" -ge 3 ]`,
    ].join("\n");
    const job = makeAssignment({
      steps: [
        { id: "flaky", run: script, retries: 3 },
        { id: "hopeless", run: "exit 7", retries: 1 },
      ],
    });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(statuses(r.steps, "flaky")).toEqual([
      [1, "RUNNING"],
      [1, "FAILED"],
      [2, "RUNNING"],
      [2, "FAILED"],
      [3, "RUNNING"],
      [3, "SUCCESS"],
    ]);
    expect(final(r.steps, "flaky")!.outputs).toEqual({ attempt: "3" });
    expect(statuses(r.steps, "hopeless")).toEqual([
      [1, "RUNNING"],
      [1, "FAILED"],
      [2, "RUNNING"],
      [2, "FAILED"],
    ]);
    expect(r.log).toContain("▶ step flaky (attempt 2)");
    expect(ctx.server.job(job.job.attemptId).finish?.status).toBe("FAILED");
  });
});

describe("job runner: stopping", () => {
  it("a step timeout kills the whole process group, SIGKILL after the grace period", async () => {
    const pids = path.join(ctx.dir, "pids");
    const job = makeAssignment({
      steps: [
        {
          id: "slow",
          timeoutMs: 600,
          env: { PIDS: pids },
          run: [
            `echo $$ >> "$PIDS"`,
            `sleep 300 & echo $! >> "$PIDS"`,
            `bash -c 'sleep 301' & echo $! >> "$PIDS"`,
            `bash -c 'trap "" TERM; sleep 302 & echo $! >> "$PIDS"; wait' & echo $! >> "$PIDS"`,
            `echo started`,
            `wait`,
          ].join("\n"),
        },
        { id: "next", needs: ["slow"], run: "true" },
      ],
    });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir, { killGraceMs: 400 });
    expect(final(r.steps, "slow")).toMatchObject({ status: "FAILED", reason: "timeout" });
    expect(final(r.steps, "next")).toMatchObject({ status: "KILLED", reason: "needs_failed" });
    expect(r.ms).toBeLessThan(4000);
    const list = (await readFile(pids, "utf8")).trim().split("\n").map(Number);
    expect(list.length).toBe(5); // the shell, sleep 300, sleep 301, the TERM-ignoring bash and its sleep 302
    for (const pid of list) expect(processAlive(pid), `pid ${pid}`).toBe(false);
    expect(r.log).toContain("timed out");
    expect(ctx.server.job(job.job.attemptId).finish).toMatchObject({ status: "FAILED" });
  });

  it("a job timeout stops the running step and skips the rest; the job FAILS with reason timeout", async () => {
    const job = makeAssignment({
      timeoutMs: 700,
      steps: [
        { id: "long", run: "sleep 30" },
        { id: "later", needs: ["long"], run: "true" },
      ],
    });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(r.ms).toBeLessThan(3000);
    expect(final(r.steps, "long")).toMatchObject({ status: "FAILED", reason: "timeout" });
    expect(final(r.steps, "later")).toMatchObject({ status: "KILLED", reason: "timeout" });
    expect(ctx.server.job(job.job.attemptId).finish).toMatchObject({ status: "FAILED", reason: "timeout" });
  });

  it("cancel via the heartbeat answer: kills the process group, reports KILLED", async () => {
    const pids = path.join(ctx.dir, "pids");
    const job = makeAssignment({
      heartbeatIntervalMs: 100,
      steps: [
        { id: "work", env: { PIDS: pids }, run: `sleep 60 & echo $! >> "$PIDS"; echo $$ >> "$PIDS"; wait` },
        { id: "parallel", run: "sleep 60" },
        { id: "after", needs: ["work"], run: "true" },
      ],
    });
    const record = ctx.server.addJob(job);
    setTimeout(() => (record.cancel = true), 400);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(r.ms).toBeLessThan(3000);
    expect(final(r.steps, "work")).toMatchObject({ status: "KILLED", reason: "cancelled" });
    expect(final(r.steps, "parallel")).toMatchObject({ status: "KILLED", reason: "cancelled" });
    expect(final(r.steps, "after")).toMatchObject({ status: "KILLED", reason: "cancelled" });
    expect(record.finish).toMatchObject({ status: "KILLED", reason: "cancelled" });
    for (const pid of (await readFile(pids, "utf8")).trim().split("\n").map(Number)) expect(processAlive(pid)).toBe(false);
  });

  it("a 4xx on a job call stops the job: nothing more is sent, the processes are stopped", async () => {
    const pids = path.join(ctx.dir, "pids");
    const job = makeAssignment({ env: { PIDS: pids }, steps: [{ id: "a", run: `echo $$ >> "$PIDS"; sleep 30 & echo $! >> "$PIDS"; wait` }] });
    const record = ctx.server.addJob(job);
    ctx.server.stepFaults = [410];
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(r.outcome.rejected).toMatch(/410/);
    expect(r.ms).toBeLessThan(3000);
    expect(record.finish).toBeUndefined();
    expect(record.steps).toEqual([]);
    const list = await readFile(pids, "utf8").catch(() => "");
    for (const pid of list.trim().split("\n").filter(Boolean).map(Number)) expect(processAlive(pid)).toBe(false);
  });

  it("409 job_cancelling on a step start stops the job as cancelled; other 409s drop only that update", async () => {
    const job = makeAssignment({
      steps: [
        { id: "first", run: "true" },
        { id: "second", needs: ["first"], run: "sleep 30" },
        { id: "third", needs: ["second"], run: "true" },
      ],
    });
    const record = ctx.server.addJob(job);
    // first RUNNING: some other conflict (dropped); first SUCCESS: fine; second RUNNING: cancelling.
    ctx.server.stepFaults = [{ status: 409, code: "step_attempt_out_of_order" }];
    const origin = ctx.server.stepFaults;
    setTimeout(() => origin.push({ status: 409, code: "job_cancelling" }), 0);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(r.ms).toBeLessThan(3000);
    expect(statuses(r.steps, "first")).toEqual([]); // its end is not sent once its start was refused
    expect(statuses(r.steps, "second")).toEqual([]);
    expect(final(r.steps, "third")).toMatchObject({ status: "KILLED", reason: "cancelled" });
    expect(record.finish).toMatchObject({ status: "KILLED", reason: "cancelled" });
  });

  it("kills what a step left running in the background when the job ends", async () => {
    const pids = path.join(ctx.dir, "pids");
    const job = makeAssignment({
      env: { PIDS: pids },
      steps: [
        { id: "daemon", run: `(sleep 60 >/dev/null 2>&1 &) ; sleep 60 & echo $! >> "$PIDS"; echo started` },
        { id: "uses-it", needs: ["daemon"], run: `kill -0 $(cat "$PIDS")` },
      ],
    });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(r.outcome.status).toBe("SUCCESS"); // the background process lived during the next step
    for (const pid of (await readFile(pids, "utf8")).trim().split("\n").map(Number)) expect(processAlive(pid)).toBe(false);
  });
});

describe("job runner: environment, shells, log", () => {
  it("gives steps the job's env, YM_ variables and CI=true, never the agent's token", async () => {
    const job = makeAssignment({
      env: { JOBVAR: "j", SHARED: "job" },
      steps: [
        {
          id: "env",
          env: { SHARED: "step" },
          run: `for v in JOBVAR SHARED CI YM_RUN_ID YM_JOB YM_STEP YM_TOKEN; do echo "$v=\${!v}" >> "$YM_OUTPUT"; done\necho "cwd=$PWD" >> "$YM_OUTPUT"`,
        },
      ],
    });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir, { env: { YM_TOKEN: "registration-secret" } });
    expect(final(r.steps, "env")!.outputs).toMatchObject({
      JOBVAR: "j",
      SHARED: "step",
      CI: "true",
      YM_RUN_ID: job.run.id,
      YM_JOB: "test",
      YM_STEP: "env",
      YM_TOKEN: "",
      cwd: path.join(ctx.dir, "jobs", job.job.attemptId),
    });
  });

  it("runs custom shells ({0} is the script) and working directories", async () => {
    const job = makeAssignment({
      steps: [
        { id: "prep", run: "mkdir -p sub/dir" },
        { id: "sh", needs: ["prep"], shell: "sh -e {0}", workingDirectory: "sub/dir", run: 'echo "where=$(basename "$PWD")" >> "$YM_OUTPUT"' },
        { id: "py", needs: ["prep"], shell: "python", run: 'import os\nopen(os.environ["YM_OUTPUT"], "a").write("lang=py\\n")' },
        { id: "missing", needs: ["prep"], shell: "no-such-shell-xyz {0}", run: "true", continueOnError: true },
      ],
    });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(final(r.steps, "sh")!.outputs).toEqual({ where: "dir" });
    expect(final(r.steps, "py")!.outputs).toEqual({ lang: "py" });
    expect(final(r.steps, "missing")).toMatchObject({ status: "FAILED", reason: "spawn_failed" });
    expect(r.outcome.status).toBe("WARNING");
  });

  it("streams stdout and stderr byte for byte (ANSI, invalid UTF-8) with headers and footers, masked", async () => {
    const secret = "hunter2-very-secret";
    const job = makeAssignment({
      mask: [secret],
      env: { SECRET: secret },
      steps: [
        {
          id: "out",
          run: [
            `printf '\\033[32mgreen\\033[0m\\n'`,
            `printf 'bad:\\377\\376\\n' >&2`,
            `echo "secret: $SECRET"`,
            `printf '%s' "$SECRET" | base64`,
            `printf 'no newline at end'`,
          ].join("\n"),
        },
      ],
    });
    ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    const bytes = r.logBytes;
    expect(bytes.includes(Buffer.from("\x1b[32mgreen\x1b[0m\n"))).toBe(true);
    expect(bytes.includes(Buffer.from([0x62, 0x61, 0x64, 0x3a, 0xff, 0xfe, 0x0a]))).toBe(true);
    expect(r.log).toContain("\x1b[1m▶ step out (attempt 1)\x1b[0m\n");
    // stdout and stderr are two pipes: stderr's line may land after stdout's last bytes; either
    // way the footer starts on a line of its own.
    expect(r.log).toMatch(/no newline at end(?:\n|bad:\uFFFD\uFFFD\n)\x1b\[1m■ step out \(attempt 1\): exit code 0 in \d+\.\d+ s/);
    expect(r.log).toContain("secret: ***\n");
    expect(r.log).toMatch(/\n\*\*\*\n/); // the base64 line
    expect(r.log).not.toContain(secret);
    expect(r.log).not.toContain(Buffer.from(secret).toString("base64"));
  });
});
