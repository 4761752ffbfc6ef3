/**
 * `--once` (autoscalers, ephemeral machines): the agent process takes one job, runs it, and exits
 * 0 once its result is reported, leaving the next job queued; exit 1 when the job it took could
 * not be run (the server refused it).
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tempDir } from "./helpers.ts";
import { makeAssignment, ProtocolServer } from "./protocol-server.ts";

const repo = path.resolve(import.meta.dirname, "../../..");
let server: ProtocolServer;
let work: { dir: string; cleanup: () => Promise<void> };

beforeEach(async () => {
  server = await new ProtocolServer().start();
  work = await tempDir();
});
afterEach(async () => {
  await server.close();
  await work.cleanup();
});

function runAgent(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [path.join(repo, "agent/cli.ts"), "--url", server.url, "--work-dir", work.dir, ...args], {
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
    server.enqueue(first);
    server.enqueue(second);
    const agent = runAgent(["--once"]);
    expect(await agent.exit, agent.stderr()).toBe(0);
    expect(server.job(first.job.attemptId).finish?.status).toBe("SUCCESS");
    expect(server.job(second.job.attemptId).finish).toBeUndefined();
    expect(server.job(second.job.attemptId).steps).toEqual([]);
    expect(server.stops).toBe(1);
  }, 30_000);

  it("exits 0 after a job that failed: the job ran and its result was reported", async () => {
    const job = makeAssignment({ steps: [{ id: "bad", run: "exit 4" }] });
    server.enqueue(job);
    const agent = runAgent([], { YM_ONCE: "1" });
    expect(await agent.exit, agent.stderr()).toBe(0);
    expect(server.job(job.job.attemptId).finish?.status).toBe("FAILED");
  }, 30_000);

  it("exits 1 when the server refuses the job it took", async () => {
    const job = makeAssignment({ steps: [{ id: "one", run: "echo never" }] });
    server.enqueue(job);
    // Every step update is answered 410 Gone: the job was taken from this agent.
    server.stepFaults.push(...Array.from({ length: 20 }, () => 410));
    const agent = runAgent(["--once"]);
    expect(await agent.exit, agent.stderr()).toBe(1);
  }, 30_000);
});
