/**
 * `--once` (autoscalers, ephemeral machines): the agent process takes one job, runs it, and exits
 * 0 once its result is reported, leaving the next job queued; exit 1 when the job it took could
 * not be run (the server refused it).
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { eachTestServer } from "./helpers.ts";
import { makeAssignment } from "./protocol-server.ts";

const repo = path.resolve(import.meta.dirname, "../../..");
const ctx = eachTestServer();

function runAgent(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [path.join(repo, "agent/cli.ts"), "--url", ctx.server.url, "--work-dir", ctx.dir, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, YM_TOKEN: "reg-token", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exit, stderr: () => stderr };
}

describe("--once", () => {
  it("runs one job, exits 0, and leaves the second job queued", async () => {
    const first = makeAssignment({ steps: [{ id: "one", run: "echo first" }] });
    const second = makeAssignment({ steps: [{ id: "two", run: "echo second" }] });
    ctx.server.enqueue(first);
    ctx.server.enqueue(second);
    const agent = runAgent(["--once"]);
    expect(await agent.exit, agent.stderr()).toBe(0);
    expect(ctx.server.job(first.job.attemptId).finish?.status).toBe("SUCCESS");
    expect(ctx.server.job(second.job.attemptId).finish).toBeUndefined();
    expect(ctx.server.job(second.job.attemptId).steps).toEqual([]);
    expect(ctx.server.stops).toBe(1);
  }, 30_000);

  it("exits 0 after a job that failed: the job ran and its result was reported", async () => {
    const job = makeAssignment({ steps: [{ id: "bad", run: "exit 4" }] });
    ctx.server.enqueue(job);
    const agent = runAgent([], { YM_ONCE: "1" });
    expect(await agent.exit, agent.stderr()).toBe(0);
    expect(ctx.server.job(job.job.attemptId).finish?.status).toBe("FAILED");
  }, 30_000);

  it("exits 1 when the server refuses the job it took", async () => {
    const job = makeAssignment({ steps: [{ id: "one", run: "echo never" }] });
    ctx.server.enqueue(job);
    // Every step update is answered 410 Gone: the job was taken from this agent.
    ctx.server.stepFaults.push(...Array.from({ length: 20 }, () => 410));
    const agent = runAgent(["--once"]);
    expect(await agent.exit, agent.stderr()).toBe(1);
  }, 30_000);
});
