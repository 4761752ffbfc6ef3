/**
 * The agent's credentials against its own jobs (issue 14), with the real CLI as a process:
 * `--token-file`, a step that looks everywhere for a token (with and without `--run-as`), the
 * state file's place and modes, and revocation (exit 3, never registering again).
 */
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeAssignment, ProtocolServer } from "./protocol-server.ts";

const repo = path.resolve(import.meta.dirname, "../../..");
const isRoot = process.getuid?.() === 0;

let server: ProtocolServer;
/** base (0755) → work/ (the work dir), state/ (the state dir), token (0600). */
let base: string;
let registrationToken: string;

beforeEach(async () => {
  server = await new ProtocolServer().start();
  registrationToken = `ymr_${randomUUID().replaceAll("-", "")}`;
  server.registrationTokens.add(registrationToken);
  base = await mkdtemp(path.join(os.tmpdir(), "ym-agent-creds-"));
  await chmod(base, 0o755); // the --run-as user must be able to pass through to the work dir
  await writeFile(path.join(base, "token"), `${registrationToken}\n`, { mode: 0o600 });
});
afterEach(async () => {
  await server.close();
  await rm(base, { recursive: true, force: true });
});

const workDir = () => path.join(base, "work");
const stateDir = () => path.join(base, "state");

function startCli(extra: string[], env: Record<string, string> = {}) {
  const args = ["--url", server.url, "--work-dir", workDir(), "--state-dir", stateDir(), "--kill-grace", "1", ...extra];
  const child = spawn(process.execPath, [path.join(repo, "agent/bin.mjs"), ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exit, stderr: () => stderr };
}

const waitFor = async (cond: () => boolean, ms = 10_000) => {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** Every place a step can look for the agent's tokens, each section headed `== name`. */
const hostileStep = (runAs: boolean) => `
set +e +o pipefail # carry on past every refusal
exec 2>&1 # one stream: every refusal lands in its own section
echo "== id"; id -u
echo "== env"; env
echo "== cmdline"; tr '\\0' ' ' < /proc/$PPID/cmdline; echo
echo "== environ"; tr '\\0' '\\n' < /proc/$PPID/environ 2>&1
echo "== ps"; ps -eo pid,args
echo "== workdir"; find "$YM_WORKSPACE/../.." -type f -exec cat {} + 2>&1
echo "== found"
find / \\( -path /proc -o -path /sys -o -path /dev -o -name node_modules -o -name .git \\) -prune -o \\
  \\( -name agent.json -o -name state.json -o -name token \\) -type f -print 2>/dev/null |
  while read -r f; do echo "-- $f"; cat "$f" 2>&1; done
echo "== statedir"; ls -la "${stateDir()}" 2>&1; cat "${stateDir()}/state.json" 2>&1
echo "== tokenfile"; cat "${path.join(base, "token")}" 2>&1
echo "== home"; echo "$HOME"; touch "$HOME/written" && echo home-writable
${
  runAs
    ? `echo "== swap" # YM_OUTPUT as a symlink to root's files, for the agent to read back as root
ln -sf "${stateDir()}/state.json" "$YM_OUTPUT" 2>&1 || echo swap-refused`
    : ""
}
echo "== end"
echo "ran=yes" >> "$YM_OUTPUT"
`;

function sections(log: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of log.split(/^== /m).slice(1)) {
    const nl = part.indexOf("\n");
    out[part.slice(0, nl).trim()] = part.slice(nl + 1);
  }
  return out;
}

async function runHostileJob(extra: string[]) {
  const job = makeAssignment({ steps: [{ id: "hostile", run: hostileStep(extra.includes("--run-as")), timeoutMs: 60_000 }] });
  const record = server.enqueue(job);
  const cli = startCli(["--token-file", path.join(base, "token"), ...extra]);
  const finish = await server.waitForFinish(job.job.attemptId, 60_000);
  const agentToken = JSON.parse(await readFile(path.join(stateDir(), "state.json"), "utf8")).token as string;
  cli.child.kill("SIGTERM");
  expect(await cli.exit, cli.stderr()).toBe(0);
  expect(finish.status, record.log.toString()).toBe("SUCCESS");
  return { log: record.log.toString(), parts: sections(record.log.toString()), agentToken, record };
}

describe("the agent's credentials, from its jobs' side", () => {
  it("--token-file registers; neither token is in the agent's /proc cmdline or environ; state.json is 0600 in a 0700 dir outside the work dir", async () => {
    const cli = startCli(["--token-file", path.join(base, "token")]);
    await waitFor(() => server.registrations.length === 1 && server.claims > 0);
    const pid = cli.child.pid!;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "latin1");
    const environ = await readFile(`/proc/${pid}/environ`, "latin1");
    const state = path.join(stateDir(), "state.json");
    const agentToken = JSON.parse(await readFile(state, "utf8")).token as string;
    cli.child.kill("SIGTERM");
    expect(await cli.exit).toBe(0);

    expect(server.agentTokens.has(agentToken)).toBe(true);
    expect(cmdline).toMatch(/^yardmaster-agent /);
    for (const secret of [registrationToken, agentToken]) {
      expect(cmdline).not.toContain(secret);
      expect(environ).not.toContain(secret);
    }
    expect((await stat(state)).mode & 0o777).toBe(0o600);
    expect((await stat(stateDir())).mode & 0o777).toBe(0o700);
    expect(path.relative(workDir(), state).startsWith("..")).toBe(true);
  }, 20_000);

  it("--token on the command line: gone from /proc/<pid>/cmdline once the agent has started", async () => {
    const cli = startCli(["--token", registrationToken]);
    await waitFor(() => server.registrations.length === 1);
    const cmdline = await readFile(`/proc/${cli.child.pid}/cmdline`, "latin1");
    cli.child.kill("SIGTERM");
    expect(await cli.exit).toBe(0);
    expect(cmdline).not.toContain(registrationToken);
    expect(cli.stderr()).toContain("prefer --token-file");
  }, 20_000);

  it("YM_TOKEN in the environment: not in a step's env; the agent's /proc environ keeps it (hence --token-file)", async () => {
    const job = makeAssignment({ steps: [{ id: "env", run: "env" }] });
    const record = server.enqueue(job);
    const cli = startCli([], { YM_TOKEN: registrationToken });
    await server.waitForFinish(job.job.attemptId, 30_000);
    const environ = await readFile(`/proc/${cli.child.pid}/environ`, "latin1");
    cli.child.kill("SIGTERM");
    expect(await cli.exit).toBe(0);
    expect(server.registrations).toHaveLength(1);
    expect(record.log.toString()).toContain("YM_JOB=");
    expect(record.log.toString()).not.toContain(registrationToken);
    expect(environ).toContain(registrationToken); // what docs/security.md warns about
  }, 40_000);

  it("a hostile step (no --run-as) finds no token in its env, the agent's cmdline/environ, ps, or the work dir", async () => {
    const { parts, agentToken } = await runHostileJob([]);
    for (const where of ["env", "cmdline", "environ", "ps", "workdir", "home"]) {
      expect(parts[where], where).toBeDefined();
      expect(parts[where], where).not.toContain(registrationToken);
      expect(parts[where], where).not.toContain(agentToken);
    }
    expect(parts.environ).toContain("PATH="); // it was readable: the check above means something
    // Without --run-as the step is the agent's own user: the state dir and the token file are
    // readable to it (docs/security.md: --run-as is the boundary). This is what holds:
    expect(parts.statedir).toContain(agentToken);
  }, 90_000);

  it.skipIf(!isRoot)("a hostile step with --run-as nobody finds no token anywhere, and runs as nobody with a HOME of its own", async () => {
    const { parts, log, agentToken, record } = await runHostileJob(["--run-as", "nobody"]);
    expect(parts.id?.trim()).toBe("65534");
    for (const [where, text] of Object.entries(parts)) {
      expect(text, where).not.toContain(registrationToken);
      expect(text, where).not.toContain(agentToken);
    }
    expect(parts.environ).toMatch(/Permission denied/);
    expect(parts.statedir).toMatch(/Permission denied/);
    expect(parts.tokenfile).toMatch(/Permission denied/);
    expect(parts.home).toContain("home-writable");
    expect(parts.swap).toContain("swap-refused");
    expect(parts.home).toContain(path.join(workDir(), "home"));
    expect(log).not.toContain(registrationToken);
    expect(record.steps.at(-1)?.outputs).toEqual({ ran: "yes" });
  }, 90_000);
});

describe("--run-as", () => {
  it.skipIf(!isRoot)("checks out as the user: the clone is the user's, in its own work dir", async () => {
    const repoDir = path.join(base, "repo");
    await mkdir(repoDir);
    const git = (...args: string[]) => execFileSync("git", ["-C", repoDir, ...args], { encoding: "utf8" }).trim();
    git("init", "-q", "-b", "main");
    await writeFile(path.join(repoDir, "file.txt"), "one\n");
    git("add", ".");
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "one");
    // A local "remote": git refuses to read a repository another user owns (safe.directory).
    execFileSync("chown", ["-R", "65534:65534", repoDir]);
    const job = makeAssignment({
      repository: repoDir,
      steps: [{ id: "read", run: 'echo "content=$(cat file.txt)" >> "$YM_OUTPUT"; echo "owner=$(stat -c %u .git)" >> "$YM_OUTPUT"' }],
    });
    const record = server.enqueue(job);
    const cli = startCli(["--token-file", path.join(base, "token"), "--run-as", "nobody"]);
    const finish = await server.waitForFinish(job.job.attemptId, 30_000);
    cli.child.kill("SIGTERM");
    expect(await cli.exit).toBe(0);
    expect(finish.status, record.log.toString()).toBe("SUCCESS");
    expect(record.steps.at(-1)?.outputs).toEqual({ content: "one", owner: "65534" });
  }, 40_000);
});

describe("--run-as: artifacts", () => {
  it.skipIf(!isRoot)("are read as the user: a symlink to the state file is skipped, the job's own files are uploaded", async () => {
    const job = makeAssignment({
      steps: [{ id: "link", run: `ln -s "${stateDir()}/state.json" loot.txt; mkdir d; echo mine > d/own.txt` }],
      artifacts: ["loot.txt", "d/"],
    });
    const record = server.enqueue(job);
    const cli = startCli(["--token-file", path.join(base, "token"), "--run-as", "nobody"]);
    const finish = await server.waitForFinish(job.job.attemptId, 30_000);
    const agentToken = JSON.parse(await readFile(path.join(stateDir(), "state.json"), "utf8")).token as string;
    cli.child.kill("SIGTERM");
    expect(await cli.exit).toBe(0);
    expect(record.artifacts.has("loot.txt")).toBe(false);
    expect(record.artifacts.get("d/own.txt")?.body.toString()).toBe("mine\n");
    expect(record.log.toString()).toContain('artifact "loot.txt" not uploaded: it is a symbolic link');
    expect(record.log.toString()).not.toContain(agentToken);
    expect(finish).toMatchObject({ status: "WARNING", reason: "artifacts_failed" });
  }, 40_000);
});

describe("--run-as refusals", () => {
  it("a user that does not exist: exit 2, with a message", async () => {
    const cli = startCli(["--token-file", path.join(base, "token"), "--run-as", "no-such-user-ym14"]);
    expect(await cli.exit).toBe(2);
    expect(cli.stderr()).toContain('no user "no-such-user-ym14"');
    expect(server.registrations).toHaveLength(0);
  });

  it.skipIf(!isRoot)("a work dir the user cannot reach: exit 2, naming the dir", async () => {
    await chmod(base, 0o700);
    const cli = startCli(["--token-file", path.join(base, "token"), "--run-as", "nobody"]);
    expect(await cli.exit).toBe(2);
    expect(cli.stderr()).toContain(`the user cannot enter ${base}`);
  });
});

describe("revocation", () => {
  it("a revoked agent exits 3 within one claim, says so, and does not register again, even when restarted", async () => {
    const cli = startCli(["--token-file", path.join(base, "token")]);
    await waitFor(() => server.registrations.length === 1 && server.claims > 0);
    server.revokeAgents(); // the claim held open is answered 401 agent_revoked
    expect(await cli.exit).toBe(3);
    expect(cli.stderr()).toContain("this agent was revoked by an administrator; not registering again");
    expect(server.registrations).toHaveLength(1);

    const again = startCli(["--token-file", path.join(base, "token")]);
    expect(await again.exit).toBe(3);
    expect(server.registrations).toHaveLength(1);
  }, 20_000);

  it("an unknown agent token (the server forgot it) registers again with the token read at start", async () => {
    await mkdir(stateDir(), { mode: 0o700 });
    await writeFile(
      path.join(stateDir(), "state.json"),
      JSON.stringify({ url: server.url, agentId: "old", token: "forgotten", queue: "default", heartbeatIntervalMs: 1000, lostAfterMs: 1, name: "x", registeredAt: "then" }),
      { mode: 0o600 },
    );
    const cli = startCli(["--token-file", path.join(base, "token")]);
    await waitFor(() => server.registrations.length === 1);
    cli.child.kill("SIGTERM");
    expect(await cli.exit).toBe(0);
  }, 20_000);
});
