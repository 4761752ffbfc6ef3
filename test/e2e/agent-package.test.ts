// The agent as a user gets it: `npm pack` in agent/ makes the tarball, the machine's own Node
// and npm (not the repository's Node 24) install it into an empty folder, and that installed
// `yardmaster-agent --once` runs one real job against wrangler dev, then exits 0 while a second
// job stays queued.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_VERSION } from "../../domain/agent-release.ts";
import { type ControlPlane, ROOT, startControlPlane, stopAll, waitFor } from "./harness.ts";

/** The first `node` on PATH that is not the repository's own (node_modules/.bin): the machine's. */
function machineNode(): string {
  const found = spawnSync("which", ["-a", "node"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
  const own = found.find((p) => !p.includes("node_modules")) ?? ["/usr/local/bin/node", "/usr/bin/node"].find((p) => spawnSync(p, ["-v"]).status === 0);
  if (!own) throw new Error(`no Node outside node_modules on this machine (which -a node: ${found.join(", ") || "nothing"})`);
  return own;
}

const node = machineNode();
const nodeVersion = spawnSync(node, ["-v"], { encoding: "utf8" }).stdout.trim();
/** Only the machine's Node and npm, and the system's tools: nothing of the repository's. */
const machineEnv = { PATH: `${dirname(node)}:/usr/bin:/bin`, HOME: process.env.HOME ?? "/root" };
const scratch = mkdtempSync(join(tmpdir(), "ym-agent-package-"));
const installDir = join(scratch, "install");
const agentBin = join(installDir, "node_modules/.bin/yardmaster-agent");
let cp: ControlPlane;

function run(cmd: string, args: string[], options: { cwd: string; env: Record<string, string | undefined> }) {
  const r = spawnSync(cmd, args, { ...options, encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  // Packed with the repository's toolchain (prepack builds the bundle with its esbuild)…
  run("npm", ["pack", "--pack-destination", scratch], { cwd: join(ROOT, "agent"), env: { ...process.env, PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}` } });
  // …installed with the machine's npm and Node, offline: the package has no dependencies to fetch.
  const tarball = join(scratch, readdirSync(scratch).find((f) => f.endsWith(".tgz"))!);
  run("mkdir", ["-p", installDir], { cwd: scratch, env: machineEnv });
  run(join(dirname(node), "npm"), ["install", "--offline", "--no-audit", "--no-fund", tarball], { cwd: installDir, env: machineEnv });
  cp = await startControlPlane();
}, 180_000);

afterAll(async () => {
  await stopAll();
  await cp?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe(`the agent package, installed with the machine's Node (${nodeVersion})`, () => {
  it("holds the bundle, its README and the systemd unit, and nothing else", () => {
    const tarball = readdirSync(scratch).find((f) => f.endsWith(".tgz"))!;
    expect(tarball).toBe(`yardmaster-agent-${AGENT_VERSION}.tgz`);
    const files = run("tar", ["tzf", join(scratch, tarball)], { cwd: scratch, env: machineEnv }).split("\n").filter(Boolean).sort();
    expect(files).toEqual(["package/README.md", "package/dist/yardmaster-agent.mjs", "package/package.json", "package/yardmaster-agent.service"]);
    // No dependencies: the install brought in the package alone.
    expect(readdirSync(join(installDir, "node_modules")).filter((d) => !d.startsWith("."))).toEqual(["yardmaster-agent"]);
  });

  it("prints its version", () => {
    expect(run(agentBin, ["--version"], { cwd: scratch, env: machineEnv }).trim()).toBe(AGENT_VERSION);
  });

  it("--once runs one real job, exits 0, and leaves the second job queued", async () => {
    expect((await cp.api("POST", "/api/v1/projects", { slug: "pkg" })).status).toBe(201);
    const pipeline = "jobs:\n  hello:\n    runs-on: [packaged]\n    steps:\n      - run: echo \"hello from node $(node -v)\"\n";
    const stored = await cp.api("PUT", "/api/v1/projects/pkg/pipelines/hello", undefined, { raw: pipeline, headers: { "content-type": "text/plain" } });
    expect(stored.status, stored.text).toBe(201);
    const first = await cp.api("POST", "/api/v1/projects/pkg/pipelines/hello/runs", { branch: "main" });
    const second = await cp.api("POST", "/api/v1/projects/pkg/pipelines/hello/runs", { branch: "main" });
    expect([first.status, second.status]).toEqual([201, 201]);
    const token = (await cp.api("POST", "/api/v1/agent-tokens", { name: "packaged" })).json.token as string;

    const workDir = join(scratch, "work");
    const agent = spawnSync(agentBin, ["--once", "--url", cp.url, "--token", token, "--labels", "packaged", "--name", "packaged", "--work-dir", workDir], {
      cwd: scratch,
      env: machineEnv,
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(agent.status, `${agent.stderr}\n--- wrangler dev\n${cp.output().slice(-2000)}`).toBe(0);
    expect(agent.stderr).toContain(`yardmaster-agent ${AGENT_VERSION} (node ${nodeVersion})`);

    const ended = await waitFor("the first run to end", async () => {
      const r = (await cp.api("GET", `/api/v1/runs/${first.json.id}`)).json;
      return r.status === "SUCCESS" ? r : null;
    });
    expect(ended.status).toBe("SUCCESS");
    const log = await fetch(`${cp.url}/api/v1/runs/${first.json.id}/jobs/hello/log`, { headers: { authorization: `Bearer ${cp.adminToken}` } });
    expect(await log.text()).toContain(`hello from node ${nodeVersion}`);

    expect((await cp.api("GET", `/api/v1/runs/${second.json.id}`)).json.status).toBe("CREATED");
    const queue = (await cp.api("GET", "/api/v1/queue")).json;
    expect(queue.pending.map((e: { runId: string; jobKey: string }) => [e.runId, e.jobKey])).toEqual([[second.json.id, "hello"]]);

    const agents = (await cp.api("GET", "/api/v1/agents")).json.items as { name: string; version: string; state: string }[];
    expect(agents.find((a) => a.name === "packaged")).toMatchObject({ version: AGENT_VERSION, state: "stopped" });
  }, 180_000);
});
