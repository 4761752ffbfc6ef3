import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { JobAssignment } from "../../../domain/protocol.ts";
import { AgentApi } from "../../../agent/protocol-client.ts";
import { HttpClient } from "../../../agent/client.ts";
import { stepBaseEnv } from "../../../agent/config.ts";
import { JobRunner, type JobOutcome } from "../../../agent/job-runner.ts";
import { silentLogger } from "../../../agent/logger.ts";
import { afterEach, beforeEach } from "vitest";
import { ProtocolServer, type StepRecord } from "./protocol-server.ts";

export async function tempDir(prefix = "ym-agent-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Gives each test of the file a fresh protocol server and work dir, both gone after it. */
export function eachTestServer(): { readonly server: ProtocolServer; readonly dir: string } {
  let server: ProtocolServer | undefined;
  let work: { dir: string; cleanup: () => Promise<void> } | undefined;
  beforeEach(async () => {
    server = await new ProtocolServer().start();
    work = await tempDir();
  });
  afterEach(async () => {
    await server?.close();
    await work?.cleanup();
  });
  return {
    get server() {
      if (!server) throw new Error("no protocol server outside a test");
      return server;
    },
    get dir() {
      if (!work) throw new Error("no work dir outside a test");
      return work.dir;
    },
  };
}

export function testApi(server: ProtocolServer): AgentApi {
  return new AgentApi(new HttpClient({ url: server.url, logger: silentLogger }), { jobRetry: { baseMs: 1, capMs: 20 } });
}

export interface JobRun {
  outcome: JobOutcome;
  runner: JobRunner;
  steps: StepRecord[];
  log: string;
  logBytes: Buffer;
  ms: number;
}

/** Runs one job against the test server (which must know it: `server.addJob`). */
export async function runJob(
  server: ProtocolServer,
  assignment: JobAssignment,
  workDir: string,
  options: { killGraceMs?: number; env?: Record<string, string>; onRunner?: (r: JobRunner) => void } = {},
): Promise<JobRun> {
  const api = testApi(server);
  const runner = new JobRunner({
    api,
    assignment,
    workDir,
    baseEnv: stepBaseEnv({ PATH: process.env.PATH, HOME: process.env.HOME, ...options.env }),
    killGraceMs: options.killGraceMs ?? 300,
    logger: silentLogger,
    log: { flushIntervalMs: 20 },
    closeWaitMs: 50,
  });
  options.onRunner?.(runner);
  const started = Date.now();
  const outcome = await runner.run();
  api.http.close();
  const record = server.job(assignment.job.attemptId);
  return { outcome, runner, steps: record.steps, log: record.log.toString("utf8"), logBytes: record.log, ms: Date.now() - started };
}

/** The updates of one step, as [attempt, status] pairs. */
export function statuses(steps: StepRecord[], id: string): [number, string][] {
  return steps.filter((s) => s.stepId === id).map((s) => [s.attempt, s.status]);
}

export function final(steps: StepRecord[], id: string): StepRecord | undefined {
  return steps.filter((s) => s.stepId === id).at(-1);
}
