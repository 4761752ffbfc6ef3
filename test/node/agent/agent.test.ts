import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Agent } from "../../../agent/agent-loop.ts";
import type { AgentConfig } from "../../../agent/config.ts";
import type { JobOutcome } from "../../../agent/job-runner.ts";
import { createLogger, silentLogger } from "../../../agent/logger.ts";
import { eachTestServer } from "./helpers.ts";
import { makeAssignment } from "./protocol-server.ts";

const ctx = eachTestServer();

function config(overrides: Partial<AgentConfig> = {}): AgentConfig {
  return {
    url: ctx.server.url,
    token: "reg-token",
    labels: ["linux", "node"],
    name: "test-agent",
    workDir: path.join(ctx.dir, "work"),
    stateDir: path.join(ctx.dir, "state"),
    concurrency: 1,
    killGraceMs: 300,
    logLevel: "info",
    ...overrides,
  };
}

function agent(overrides: Partial<AgentConfig> = {}, lines?: string[]) {
  const ended = new Map<string, JobOutcome>();
  const a = new Agent({
    config: config(overrides),
    logger: lines ? createLogger({ write: (l) => lines.push(l) }) : silentLogger,
    version: "test",
    env: { PATH: process.env.PATH },
    claimWaitSeconds: 1,
    claimRetry: { baseMs: 1, capMs: 20 },
    jobRetry: { baseMs: 1, capMs: 20 },
    jobLog: { flushIntervalMs: 20 },
    onJobEnd: (id, o) => ended.set(id, o),
  });
  return { a, ended };
}

const waitFor = async (cond: () => boolean, ms = 5000) => {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("agent", () => {
  it("registers once, keeps its token in <state-dir>/state.json (0600 in a 0700 dir, outside the work dir), claims and runs a job", async () => {
    const job = makeAssignment({ steps: [{ id: "hello", run: "echo hello" }] });
    ctx.server.enqueue(job);
    const { a } = agent();
    const running = a.run();
    await ctx.server.waitForFinish(job.job.attemptId);
    a.shutdown();
    expect(await running).toBe(0);

    expect(ctx.server.registrations).toEqual([{ name: "test-agent", labels: ["linux", "node"], version: "test", hostname: expect.any(String), concurrency: 1 }]);
    const file = path.join(ctx.dir, "state", "state.json");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    expect(await readdir(path.join(ctx.dir, "work"))).not.toContain("agent.json");
    const stored = JSON.parse(await readFile(file, "utf8"));
    expect(stored).toMatchObject({ agentId: "agent-1", url: ctx.server.url, queue: "default" });
    expect(ctx.server.agentTokens.has(stored.token)).toBe(true);
    expect(ctx.server.job(job.job.attemptId).finish?.status).toBe("SUCCESS");
    expect(ctx.server.job(job.job.attemptId).log.toString()).toContain("hello\n");
    expect(ctx.server.stops).toBe(1);

    // Next start: the stored token is reused, no registration token needed.
    const again = makeAssignment({ steps: [{ id: "x", run: "true" }] });
    ctx.server.enqueue(again);
    const second = agent({ token: undefined });
    const run2 = second.a.run();
    await ctx.server.waitForFinish(again.job.attemptId);
    second.a.shutdown();
    expect(await run2).toBe(0);
    expect(ctx.server.registrations).toHaveLength(1);
  });

  it("re-registers when the stored token is refused and a registration token is given", async () => {
    await mkdir(path.join(ctx.dir, "state"));
    await writeFile(
      path.join(ctx.dir, "state", "state.json"),
      JSON.stringify({ url: ctx.server.url, agentId: "old", token: "revoked", queue: "default", heartbeatIntervalMs: 1000, lostAfterMs: 1, name: "x", registeredAt: "then" }),
    );
    const job = makeAssignment({ steps: [{ id: "x", run: "true" }] });
    ctx.server.enqueue(job);
    const { a } = agent();
    const running = a.run();
    await ctx.server.waitForFinish(job.job.attemptId);
    a.shutdown();
    expect(await running).toBe(0);
    expect(ctx.server.registrations).toHaveLength(1);
    expect(a.agentId).toBe("agent-1");
  });

  it("without a registration token, a refused agent token ends the agent with an error", async () => {
    await mkdir(path.join(ctx.dir, "state"));
    await writeFile(
      path.join(ctx.dir, "state", "state.json"),
      JSON.stringify({ url: ctx.server.url, agentId: "old", token: "revoked", queue: "default", heartbeatIntervalMs: 1000, lostAfterMs: 1, name: "x", registeredAt: "then" }),
    );
    const lines: string[] = [];
    const { a } = agent({ token: undefined }, lines);
    expect(await a.run()).toBe(1);
    expect(lines.join("")).toMatch(/--token-file/);
  });

  it("survives 5xx, 429 and dropped connections on claims, and carries on", async () => {
    ctx.server.claimFaults = [500, 503, "drop", 429, 502, "drop", 504];
    const job = makeAssignment({ steps: [{ id: "x", run: "true" }] });
    ctx.server.enqueue(job);
    const { a } = agent();
    const running = a.run();
    await ctx.server.waitForFinish(job.job.attemptId);
    a.shutdown();
    expect(await running).toBe(0);
    expect(ctx.server.claims).toBeGreaterThanOrEqual(8);
  });

  it("first shutdown: stops claiming and lets the running job finish", async () => {
    const job = makeAssignment({ steps: [{ id: "work", run: "sleep 0.8; echo finished" }] });
    const record = ctx.server.enqueue(job);
    const { a } = agent();
    const running = a.run();
    await waitFor(() => record.steps.length > 0);
    a.shutdown("SIGTERM");
    const claimsAtShutdown = ctx.server.claims;
    expect(await running).toBe(0);
    expect(record.finish?.status).toBe("SUCCESS");
    expect(record.log.toString()).toContain("finished");
    expect(ctx.server.claims).toBe(claimsAtShutdown);
  });

  it("second shutdown: cancels the running job, which ends KILLED", async () => {
    const job = makeAssignment({ steps: [{ id: "work", run: "sleep 30" }] });
    const record = ctx.server.enqueue(job);
    const { a } = agent();
    const running = a.run();
    await waitFor(() => record.steps.length > 0);
    const started = Date.now();
    a.shutdown("SIGINT");
    a.shutdown("SIGINT");
    expect(await running).toBe(1);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(record.finish).toMatchObject({ status: "KILLED", reason: "agent_shutdown" });
    expect(record.steps.at(-1)).toMatchObject({ stepId: "work", status: "KILLED", reason: "agent_shutdown" });
  });

  it("runs at most `concurrency` jobs at once", async () => {
    const jobs = [1, 2, 3].map(() =>
      makeAssignment({ steps: [{ id: "s", run: 'echo "start=$(date +%s%N)" >> $YM_OUTPUT; sleep 0.4; echo "end=$(date +%s%N)" >> $YM_OUTPUT' }] }),
    );
    for (const j of jobs) ctx.server.enqueue(j);
    const { a } = agent({ concurrency: 2 });
    const running = a.run();
    for (const j of jobs) await ctx.server.waitForFinish(j.job.attemptId);
    a.shutdown();
    await running;
    const spans = jobs.map((j) => {
      const o = ctx.server.job(j.job.attemptId).steps.at(-1)!.outputs!;
      return [Number(o.start), Number(o.end)] as const;
    });
    const points = spans.flatMap(([s, e]) => [[s, 1] as const, [e, -1] as const]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let now = 0;
    let peak = 0;
    for (const [, d] of points) peak = Math.max(peak, (now += d));
    expect(peak).toBe(2);
  });

  it("finishes FAILED a job it cannot read, and carries on", async () => {
    const job = makeAssignment({ steps: [{ id: "x", run: "true" }] });
    ctx.server.addJob(job);
    const broken = { ...job, protocol: 99 } as unknown as typeof job;
    ctx.server.enqueue(broken);
    const { a } = agent();
    const running = a.run();
    const f = await ctx.server.waitForFinish(job.job.attemptId);
    a.shutdown();
    await running;
    expect(f).toMatchObject({ status: "FAILED", reason: "invalid_assignment" });
  });

  it("moves an older agent's <work-dir>/agent.json to the state dir: same identity, no new registration", async () => {
    const legacy = { url: ctx.server.url, agentId: "agent-old", token: "old-token", queue: "default", heartbeatIntervalMs: 1000, lostAfterMs: 30_000, name: "x", registeredAt: "then" };
    ctx.server.agentTokens.add("old-token");
    await mkdir(path.join(ctx.dir, "work"));
    await writeFile(path.join(ctx.dir, "work", "agent.json"), JSON.stringify(legacy), { mode: 0o600 });
    const job = makeAssignment({ steps: [{ id: "x", run: "true" }] });
    ctx.server.enqueue(job);
    const { a } = agent({ token: undefined });
    const running = a.run();
    await ctx.server.waitForFinish(job.job.attemptId);
    a.shutdown();
    expect(await running).toBe(0);
    expect(a.agentId).toBe("agent-old");
    expect(ctx.server.registrations).toHaveLength(0);
    expect(await readdir(path.join(ctx.dir, "work"))).not.toContain("agent.json");
    const moved = path.join(ctx.dir, "state", "state.json");
    expect(JSON.parse(await readFile(moved, "utf8"))).toEqual(legacy);
    expect((await stat(moved)).mode & 0o777).toBe(0o600);
  });

  it("revoked while a job runs: the job ends KILLED, the agent exits 3 and does not register again", async () => {
    const job = makeAssignment({ steps: [{ id: "work", run: "sleep 30" }] });
    const record = ctx.server.enqueue(job);
    const lines: string[] = [];
    const { a } = agent({}, lines);
    const running = a.run();
    await waitFor(() => record.steps.length > 0);
    ctx.server.revokeAgents(); // the next agent heartbeat (every second) is answered agent_revoked
    expect(await running).toBe(3);
    expect(record.finish).toMatchObject({ status: "KILLED", reason: "agent_shutdown" });
    expect(lines.join("")).toContain("this agent was revoked by an administrator; not registering again");
    expect(ctx.server.registrations).toHaveLength(1);
  });

  it("a revoked registration token: exit 3 with a message, no registration", async () => {
    ctx.server.revokedRegistrationTokens.add("reg-token");
    const lines: string[] = [];
    const { a } = agent({}, lines);
    expect(await a.run()).toBe(3);
    expect(lines.join("")).toContain("the registration token was revoked by an administrator");
    expect(ctx.server.registrations).toHaveLength(0);
  });

  it("refuses a work dir another live agent holds", async () => {
    await mkdir(path.join(ctx.dir, "work"));
    await writeFile(path.join(ctx.dir, "work", "agent.lock"), String(process.ppid));
    const lines: string[] = [];
    const { a } = agent({}, lines);
    expect(await a.run()).toBe(1);
    expect(lines.join("")).toMatch(/another agent/);
  });
});

describe("yardmaster-agent CLI (node, types stripped)", () => {
  const repo = path.resolve(import.meta.dirname, "../../..");

  function startCli(args: string[]) {
    const child = spawn(process.execPath, [path.join(repo, "agent/bin.mjs"), ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, YM_TOKEN: "reg-token" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    return { child, exit, stderr: () => stderr };
  }

  it("SIGTERM once: finishes the job and exits 0; logs with timestamps on stderr", async () => {
    const job = makeAssignment({ steps: [{ id: "work", run: "sleep 0.5; echo done" }] });
    const record = ctx.server.enqueue(job);
    const cli = startCli(["--url", ctx.server.url, "--work-dir", path.join(ctx.dir, "work"), "--state-dir", path.join(ctx.dir, "state"), "--labels", "linux", "--kill-grace", "1"]);
    await waitFor(() => record.steps.length > 0, 10_000);
    cli.child.kill("SIGTERM");
    expect(await cli.exit).toBe(0);
    expect(record.finish?.status).toBe("SUCCESS");
    expect(cli.stderr()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO /m);
    expect(cli.stderr()).toContain("SIGTERM: no more claims");
  }, 15_000);

  it("SIGINT twice: cancels the job (KILLED) and exits 1", async () => {
    const job = makeAssignment({ steps: [{ id: "work", run: "sleep 30" }] });
    const record = ctx.server.enqueue(job);
    const cli = startCli(["--url", ctx.server.url, "--work-dir", path.join(ctx.dir, "work"), "--state-dir", path.join(ctx.dir, "state"), "--kill-grace", "1"]);
    await waitFor(() => record.steps.length > 0, 10_000);
    cli.child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 100));
    cli.child.kill("SIGINT");
    expect(await cli.exit).toBe(1);
    expect(record.finish).toMatchObject({ status: "KILLED", reason: "agent_shutdown" });
  }, 15_000);

  it("prints usage for --help and refuses bad flags", async () => {
    const help = startCli(["--help"]);
    expect(await help.exit).toBe(0);
    const bad = startCli(["--url", "x://y"]);
    expect(await bad.exit).toBe(2);
    expect(bad.stderr()).toMatch(/--url/);
  });
});
