/**
 * The agent as it ships: agent/build.mjs bundles it into one JavaScript file, which must run a
 * real job end to end as the sources do — its output, an artifact, its version — with no
 * TypeScript and no package.json beside it.
 */
import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_VERSION } from "../../../domain/agent-release.ts";
import { tempDir } from "./helpers.ts";
import { makeAssignment, ProtocolServer } from "./protocol-server.ts";

const repo = path.resolve(import.meta.dirname, "../../..");
let server: ProtocolServer;
let dist: { dir: string; cleanup: () => Promise<void> };
let bundle: string;

function run(file: string, args: string[], cwd: string) {
  const child = spawn(process.execPath, [file, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, YM_TOKEN: "reg-token" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exit, stdout: () => stdout, stderr: () => stderr };
}

beforeAll(async () => {
  server = await new ProtocolServer().start();
  // Built outside the repository, so that nothing in the tree can stand in for what it lacks.
  dist = await tempDir();
  bundle = path.join(dist.dir, "yardmaster-agent.mjs");
  const build = run(path.join(repo, "agent/build.mjs"), ["--outfile", bundle], repo);
  expect(await build.exit, build.stderr()).toBe(0);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await dist?.cleanup();
});

describe("the agent's bundle", () => {
  it("knows its version without a package.json: the release the server knows, which the package carries", async () => {
    const { version } = (await import(path.join(repo, "agent/package.json"), { with: { type: "json" } })).default as { version: string };
    expect(version).toBe(AGENT_VERSION);
    const v = run(bundle, ["--version"], dist.dir);
    expect(await v.exit).toBe(0);
    expect(v.stdout().trim()).toBe(AGENT_VERSION);
  });

  it("runs a job: its steps, output, log and artifact, then stops on SIGTERM", async () => {
    const work = path.join(dist.dir, "work");
    await mkdir(work);
    const job = makeAssignment({
      steps: [
        { id: "make", run: 'echo built > out.txt; echo "size=6" >> "$YM_OUTPUT"; printf "\\033[32mgreen\\033[0m\\n"' },
        { id: "check", needs: ["make"], run: "test -s out.txt && echo checked" },
        // The step's yardmaster-agent is the bundle itself (agent/step-shim.ts).
        { id: "upload", needs: ["check"], run: "grep -q yardmaster-agent.mjs \"$(command -v yardmaster-agent)\" && printf 'jobs:\\n  more: {}\\n' | yardmaster-agent pipeline upload -" },
      ],
      artifacts: ["out.txt"],
    });
    const record = server.enqueue(job);
    const agent = run(bundle, ["--url", server.url, "--work-dir", work, "--state-dir", path.join(dist.dir, "state"), "--labels", "linux"], dist.dir);
    const finish = await server.waitForFinish(job.job.attemptId, 20_000);
    agent.child.kill("SIGTERM");
    expect(await agent.exit, agent.stderr()).toBe(0);
    expect(finish.status).toBe("SUCCESS");
    expect(record.log.toString()).toContain("\x1b[32mgreen\x1b[0m\n");
    expect(record.log.toString()).toContain("checked\n");
    expect(record.steps.find((s) => s.stepId === "make" && s.status === "SUCCESS")?.outputs).toEqual({ size: "6" });
    expect(record.artifacts.get("out.txt")?.body.toString()).toBe("built\n");
    expect(server.pipelineUploads.map((u) => u.text)).toEqual(["jobs:\n  more: {}\n"]);
    expect(record.log.toString()).toContain("added 1 job to the run: more");
  }, 30_000);
});
