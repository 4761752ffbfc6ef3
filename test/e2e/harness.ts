/**
 * End-to-end harness: the real `wrangler dev` (local D1, R2, Durable Objects in a temporary
 * --persist-to folder, on a free 127.0.0.1 port) and real agent processes. Every process a test
 * starts is stopped by `stopAll()` (call it in afterAll), and each wait is bounded.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Reply, readReply } from "../support/reply.ts";

export const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "node_modules/.bin");
const QUIET_ENV = {
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
  NO_COLOR: "1",
};

const running = new Set<ChildProcess>();

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  { timeoutMs = 30_000, intervalMs = 100, explain }: { timeoutMs?: number; intervalMs?: number; explain?: () => Promise<string> | string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const detail = explain ? `\n${await Promise.resolve(explain()).catch((e) => `(explain failed: ${String(e)})`)}` : "";
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}${detail}`);
}

export interface ControlPlane {
  url: string;
  port: number;
  adminToken: string;
  persistDir: string;
  /** The output of wrangler dev so far (for diagnosing a failure). */
  output(): string;
  api(method: string, path: string, body?: unknown, init?: { token?: string; headers?: Record<string, string>; raw?: RequestInit["body"] }): Promise<Reply>;
  /**
   * Stops wrangler dev and starts it again on the same port with the same persisted state;
   * `whileStopped` runs in between (e.g. seeding the local D1 with `wrangler d1 execute`).
   */
  restart(whileStopped?: () => void | Promise<void>): Promise<void>;
  stop(): Promise<void>;
  /** The pid of `wrangler dev` (workerd runs as its descendant), while it runs. */
  pid(): number | undefined;
}

export interface ControlPlaneOptions {
  /** Extra vars for the worker (e.g. YM_AGENT_LOST_AFTER_SECONDS). */
  vars?: Record<string, string>;
  /** Another worker's wrangler config (benchmarks' baselines); default: the product's. */
  configPath?: string;
  /** Apply the D1 migrations first (default true; a worker without D1 has none). */
  migrate?: boolean;
  /** The path polled until the worker answers (default /api/health). */
  healthPath?: string;
  /** Serve the DevTools inspector on this port (CPU profiles of workerd); default: wrangler's. */
  inspectorPort?: number;
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const persistDir = mkdtempSync(join(tmpdir(), "ym-e2e-"));
  let port = await freePort();
  const adminToken = `e2e-admin-${Math.random().toString(36).slice(2)}`;
  const envFile = join(persistDir, "test.env");
  const vars = { YM_ADMIN_TOKEN: adminToken, YM_ENCRYPTION_KEY: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", ...options.vars };
  writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");

  const config = options.configPath ? ["--config", options.configPath] : [];
  const inspector = options.inspectorPort ? ["--inspector-port", String(options.inspectorPort)] : [];
  if (options.migrate !== false) {
    const migrate = spawnSync(join(BIN, "wrangler"), ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir, ...config], {
      cwd: ROOT,
      env: { ...process.env, ...QUIET_ENV, CI: "true" },
      encoding: "utf8",
    });
    if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);
  }

  let log = "";
  let child: ChildProcess | null = null;
  let url = `http://127.0.0.1:${port}`;

  /** Starts wrangler dev; on the first start a port taken meanwhile is replaced by another (a restart keeps its port). */
  const launch = async (first: boolean) => {
    for (let attempt = 1; ; attempt++) {
      const from = log.length;
      const proc = spawn(
        join(BIN, "wrangler"),
        ["dev", ...config, ...inspector, "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persistDir, "--env-file", envFile, "--show-interactive-dev-session=false"],
        { cwd: ROOT, env: { ...process.env, ...QUIET_ENV }, stdio: ["ignore", "pipe", "pipe"], detached: true },
      );
      child = proc;
      running.add(proc);
      proc.stdout!.on("data", (d) => (log += d));
      proc.stderr!.on("data", (d) => (log += d));
      proc.once("exit", () => running.delete(proc));
      const health = `${url}${options.healthPath ?? "/api/health"}`;
      const outcome = await waitFor(
        "wrangler dev to answer",
        async () => (proc.exitCode !== null ? "exited" : (await fetch(health)).ok && "up"),
        { timeoutMs: 60_000, intervalMs: 200, explain: () => `wrangler dev said:\n${log.slice(from).slice(-3000)}` },
      );
      if (outcome === "up") return;
      // wrangler dev picks the ports of its internal sockets itself: two starting at the same
      // moment (test files run side by side) can pick the same one, and the second exits.
      if (attempt < 3 && /Address already in use/.test(log.slice(from))) {
        console.warn(`wrangler dev: an address it chose was taken meanwhile; starting it again (attempt ${attempt + 1})`);
        if (first) {
          port = await freePort();
          url = `http://127.0.0.1:${port}`;
        }
        continue;
      }
      throw new Error(`wrangler dev exited (${proc.exitCode}) before answering:\n${log.slice(from).slice(-3000)}`);
    }
  };

  const stopChild = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    try {
      process.kill(-c.pid!, "SIGTERM");
    } catch {
      /* already gone */
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-c.pid!, "SIGKILL");
      } catch {
        /* already gone */
      }
    }, 5_000);
    await exited;
    clearTimeout(timer);
    running.delete(c);
  };

  await launch(true);

  return {
    url,
    port,
    adminToken,
    persistDir,
    output: () => log,
    async api(method, path, body, init = {}) {
      const headers: Record<string, string> = { authorization: `Bearer ${init.token ?? adminToken}`, ...init.headers };
      let payload: RequestInit["body"] = init.raw;
      if (body !== undefined) {
        payload = JSON.stringify(body);
        headers["content-type"] ??= "application/json";
      }
      return readReply(await fetch(`${url}${path}`, { method, headers, body: payload }));
    },
    async restart(whileStopped) {
      await stopChild();
      await whileStopped?.();
      await launch(false);
    },
    async stop() {
      await stopChild();
      rmSync(persistDir, { recursive: true, force: true });
    },
    pid: () => {
      const c = child as ChildProcess | null;
      return c && c.exitCode === null ? c.pid : undefined;
    },
  };
}

export interface AgentProcess {
  name: string;
  workDir: string;
  process: ChildProcess;
  output(): string;
  /** Sends a signal to the agent (not its jobs' process groups). */
  signal(signal: NodeJS.Signals): void;
  exited(): Promise<number | null>;
}

/** Creates a registration token, then starts the agent (`npm run agent`'s command) as a real process. */
export async function startAgent(
  cp: ControlPlane,
  options: { name: string; labels: string[]; concurrency?: number; env?: Record<string, string>; registrationToken?: string },
): Promise<AgentProcess> {
  const token = options.registrationToken ?? (await cp.api("POST", "/api/v1/agent-tokens", { name: options.name })).json.token;
  const workDir = mkdtempSync(join(tmpdir(), `ym-agent-${options.name}-`));
  // The agent's identity and its registration token live outside the work dir (docs/agent.md).
  const stateDir = mkdtempSync(join(tmpdir(), `ym-agent-state-${options.name}-`));
  const tokenFile = join(stateDir, "registration-token");
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  // The sources, or (YM_AGENT_ENTRY, as the benchmarks set it) the agent's bundle as it ships.
  const entry = process.env.YM_AGENT_ENTRY ?? join(ROOT, "agent/cli.ts");
  const child = spawn(
    join(BIN, "node"),
    [
      ...(entry.endsWith(".ts") ? ["--experimental-strip-types", "--no-warnings"] : []),
      entry,
      "--url",
      cp.url,
      "--token-file",
      tokenFile,
      "--state-dir",
      stateDir,
      "--labels",
      options.labels.join(","),
      "--name",
      options.name,
      "--work-dir",
      workDir,
      "--concurrency",
      String(options.concurrency ?? 1),
    ],
    { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  running.add(child);
  let log = "";
  child.stdout!.on("data", (d) => (log += d));
  child.stderr!.on("data", (d) => (log += d));
  const exit = new Promise<number | null>((r) => child.once("exit", (code) => {
    running.delete(child);
    r(code);
  }));
  return {
    name: options.name,
    workDir,
    process: child,
    output: () => log,
    signal: (signal) => child.kill(signal),
    exited: () => exit,
  };
}

/** Kills every process the harness started (agents, wrangler dev). */
export async function stopAll(): Promise<void> {
  for (const child of running) {
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  }
  running.clear();
}
