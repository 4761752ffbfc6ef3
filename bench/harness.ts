/**
 * What every benchmark shares: the e2e harness (real `wrangler dev`, real agents), clocks,
 * percentiles, a progress line, memory of processes, a keep-alive HTTP client and closed-loop
 * load, an agent-protocol client built from the agent's own code, and the result's shape.
 *
 * Clocks. Durations inside this process use `performance.now()`. Anything compared with another
 * process — the agent, a job's step, the control plane's own timestamps — uses `wallNow()`, the
 * wall clock with sub-millisecond precision; every process here runs on the same machine, so
 * their wall clocks agree. The control plane's timestamps come from workerd, whose `Date.now()`
 * only advances on I/O: a server time is the moment the request that caused it arrived, never
 * later, so a latency measured from one can only be overstated, by that request's own CPU time.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import { join } from "node:path";
import { AgentApi } from "../agent/api.ts";
import { HttpClient } from "../agent/client.ts";
import { silentLogger } from "../agent/logger.ts";
import type { JobAssignment } from "../domain/protocol.ts";
import { type ControlPlane, ROOT } from "../test/e2e/harness.ts";

export { type AgentProcess, type ControlPlane, ROOT, startAgent, startControlPlane, stopAll, waitFor } from "../test/e2e/harness.ts";

// ── clocks and numbers ────────────────────────────────────────────────────────────────────────

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface Stats {
  n: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles (the value at or below which p of the samples lie). */
export function summarize(samples: readonly number[]): Stats {
  if (samples.length === 0) return { n: 0, min: NaN, mean: NaN, p50: NaN, p95: NaN, p99: NaN, max: NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
  return {
    n: sorted.length,
    min: sorted[0]!,
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    max: sorted[sorted.length - 1]!,
  };
}

/** Rounds for the report: 3 significant digits, no float noise in the JSON. */
export function round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(x))));
  return Number(x.toFixed(Math.min(digits, 6)));
}

export function roundStats(s: Stats): Stats {
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === "n" ? v : round(v)])) as unknown as Stats;
}

export const MB = 1024 * 1024;

// ── progress ──────────────────────────────────────────────────────────────────────────────────

/**
 * One progress line per benchmark on stderr: rewritten in place on a terminal, else printed at
 * most every 5 s (so a CI log shows the run is alive without drowning in lines).
 */
export class Progress {
  private lastAt = 0;
  private lastText = "";
  private readonly tty = process.stderr.isTTY === true;
  private readonly name: string;
  constructor(name: string) {
    this.name = name;
  }

  update(text: string, force = false): void {
    const now = Date.now();
    this.lastText = text;
    if (!force && now - this.lastAt < (this.tty ? 250 : 5_000)) return;
    this.lastAt = now;
    const line = `[${this.name}] ${text}`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns ?? 120) - 1)}`);
    else process.stderr.write(`${line}\n`);
  }

  /** A line that stays (a phase done, a figure measured). */
  log(text: string): void {
    if (this.tty) process.stderr.write("\r\x1b[2K");
    process.stderr.write(`[${this.name}] ${text}\n`);
    if (this.tty && this.lastText) this.lastAt = 0;
  }

  done(): void {
    if (this.tty) process.stderr.write("\r\x1b[2K");
  }
}

// ── the machine ───────────────────────────────────────────────────────────────────────────────

function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** How busy the CPUs are right now (0–1 of all cores), measured over `ms`. */
export async function cpuBusy(ms = 2_000): Promise<number> {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  return b.total === a.total ? 0 : (b.busy - a.busy) / (b.total - a.total);
}

export interface MachineLoad {
  /** 1, 5 and 15-minute load averages. */
  loadavg: number[];
  /** Share of all cores busy over 2 s, before anything of ours started. */
  busy: number;
}

export async function machineLoad(): Promise<MachineLoad> {
  const busy = await cpuBusy();
  return { loadavg: os.loadavg().map(round), busy: round(busy) };
}

export function machineInfo() {
  const version = (cmd: string, args: string[]) => spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8" }).stdout?.trim() ?? "";
  const pkg = JSON.parse(readFileSync(join(ROOT, "node_modules/wrangler/package.json"), "utf8")) as { version: string };
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGb: round(os.totalmem() / 1024 ** 3),
    node: process.version,
    wrangler: pkg.version,
    commit: version("git", ["rev-parse", "--short", "HEAD"]),
    // Changes other than the benchmarks' own outputs (which an earlier benchmark of the same run wrote).
    dirty: version("git", ["status", "--porcelain", "--untracked-files=no", "--", ".", ":!BENCHMARKS.md", ":!bench/results"]) !== "",
  };
}

// ── processes and memory ──────────────────────────────────────────────────────────────────────

/** Resident memory of a process now and at its peak (VmHWM), in MiB; null once it is gone. */
export function processMemory(pid: number): { rssMb: number; peakMb: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN);
    return { rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024 };
  } catch {
    return null;
  }
}

/**
 * Forgets a process's peak so far (`echo 5 > /proc/pid/clear_refs`), so that VmHWM covers only
 * what follows. False where the kernel or our permissions do not allow it.
 */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/**
 * CPU seconds a process has used so far, with its children that it has waited for (an agent's
 * steps count as the agent's); null once it is gone. Linux's clock tick is 100 Hz.
 */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
    // Fields 14–17 of stat (utime, stime, cutime, cstime) are 11–14 after the command name.
    return ((f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0)) / 100;
  } catch {
    return null;
  }
}

/** The pids below `pid` (children, grandchildren, …). */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

/**
 * The two workerd processes of a `wrangler dev`: the runtime that runs the worker, its Durable
 * Objects, D1 and R2, and a proxy in front of it that owns the public port (every request and
 * WebSocket passes through it; production has no such hop).
 */
export function workerdPids(cp: ControlPlane): { runtime: number; proxy: number | null } {
  const root = cp.pid();
  if (root === undefined) throw new Error("wrangler dev is not running");
  const workerds = descendants(root).flatMap((pid) => {
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "workerd") return [];
      return [{ pid, cmdline: readFileSync(`/proc/${pid}/cmdline`, "utf8") }];
    } catch {
      return [];
    }
  });
  const proxy = workerds.find((w) => w.cmdline.includes(`entry=127.0.0.1:${cp.port}`));
  const runtime = workerds.find((w) => w !== proxy);
  if (!runtime) throw new Error(`no workerd below wrangler dev (pid ${root})`);
  return { runtime: runtime.pid, proxy: proxy?.pid ?? null };
}

/** The workerd process running the worker and its objects (not wrangler's proxy). */
export function workerdPid(cp: ControlPlane): number {
  return workerdPids(cp).runtime;
}

/** Samples a process's RSS every `everyMs` and keeps the highest seen (VmHWM may be unavailable). */
export class MemoryWatch {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;
  readonly pid: number;
  constructor(pid: number, everyMs = 20) {
    this.pid = pid;
    const sample = () => {
      const m = processMemory(pid);
      if (m) this.peak = Math.max(this.peak, m.rssMb);
    };
    sample();
    this.timer = setInterval(sample, everyMs);
  }

  /** Stops sampling; the peak RSS seen (MiB) and the kernel's own peak (VmHWM). */
  stop(): { sampledPeakMb: number; hwmMb: number } {
    clearInterval(this.timer);
    const m = processMemory(this.pid);
    if (m) this.peak = Math.max(this.peak, m.rssMb);
    return { sampledPeakMb: round(this.peak), hwmMb: round(m?.peakMb ?? NaN) };
  }
}

// ── HTTP ──────────────────────────────────────────────────────────────────────────────────────

export interface Reply {
  status: number;
  body: Buffer;
  /** Request sent → last byte of the answer read, in ms. */
  ms: number;
}

/**
 * A keep-alive HTTP/1.1 client over node:http — the transport the agent itself uses — so that
 * a route and its baseline are measured the same way, with connection set-up out of the way.
 */
export class KeepAlive {
  private readonly agent: http.Agent;
  readonly origin: string;
  constructor(origin: string, sockets = 1) {
    this.origin = origin;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  }

  request(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<Reply> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.origin}${path}`, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), ms: performance.now() - started }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Closed-loop load: `concurrency` clients, each sending its next request as soon as the last
 * one is answered, for `durationMs` (and at most `maxRequests`). A non-2xx answer is counted
 * as an error, not as a sample.
 */
export async function closedLoop(
  client: KeepAlive,
  options: { concurrency: number; durationMs: number; maxRequests?: number; request: () => Promise<Reply>; onProgress?: (done: number) => void },
): Promise<{ samples: number[]; errors: number; seconds: number; rps: number }> {
  const samples: number[] = [];
  let errors = 0;
  let sent = 0;
  const started = performance.now();
  const deadline = started + options.durationMs;
  const max = options.maxRequests ?? Number.POSITIVE_INFINITY;
  const lane = async () => {
    while (performance.now() < deadline && sent < max) {
      sent++;
      try {
        const reply = await options.request();
        if (reply.status >= 200 && reply.status < 300) samples.push(reply.ms);
        else errors++;
      } catch {
        errors++;
      }
      options.onProgress?.(samples.length);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, lane));
  const seconds = (performance.now() - started) / 1000;
  return { samples, errors, seconds, rps: samples.length / seconds };
}

// ── the product's API ─────────────────────────────────────────────────────────────────────────

export async function createProject(cp: ControlPlane, slug: string): Promise<void> {
  const r = await cp.api("POST", "/api/v1/projects", { slug });
  if (r.status !== 201) throw new Error(`creating project ${slug}: ${r.status} ${r.text}`);
}

export async function putPipeline(cp: ControlPlane, project: string, name: string, yaml: string): Promise<void> {
  const r = await cp.api("PUT", `/api/v1/projects/${project}/pipelines/${name}`, undefined, { raw: yaml, headers: { "content-type": "text/plain" } });
  if (r.status !== 201 && r.status !== 200) throw new Error(`storing pipeline ${project}/${name}: ${r.status} ${r.text}`);
}

/** A pipeline of `count` independent one-step jobs, keys j0001…, each running `run`. */
export function widePipeline(count: number, labels: string[], run: string, extra = ""): string {
  const jobs = Array.from({ length: count }, (_, i) => {
    const key = `j${String(i + 1).padStart(4, "0")}`;
    return `  ${key}:\n    runs-on: [${labels.join(", ")}]\n${extra}    steps:\n      - id: s\n        run: ${JSON.stringify(run)}\n`;
  });
  return `jobs:\n${jobs.join("")}`;
}

/** Seeds a pipeline into a fresh project; returns nothing but throws on any refusal. */
export async function setUpPipeline(cp: ControlPlane, project: string, pipelines: Record<string, string>): Promise<void> {
  await createProject(cp, project);
  for (const [name, yaml] of Object.entries(pipelines)) await putPipeline(cp, project, name, yaml);
}

// ── an agent-protocol client made of the agent's own code ────────────────────────────────────

/**
 * Speaks the agent protocol with the agent's own HTTP client and routes (agent/api.ts), but
 * runs no steps: the benchmark decides what happens to each job. Used where the moment a claim
 * is answered must be read inside the measuring process.
 */
export class ProtocolAgent {
  readonly api: AgentApi;
  readonly name: string;
  private readonly token: string;
  private readonly http: HttpClient;
  private constructor(name: string, token: string, http: HttpClient) {
    this.name = name;
    this.token = token;
    this.http = http;
    this.api = new AgentApi(http);
  }

  static async register(cp: ControlPlane, name: string, labels: string[]): Promise<ProtocolAgent> {
    const registration = (await cp.api("POST", "/api/v1/agent-tokens", { name })).json.token as string;
    const http = new HttpClient({ url: cp.url, logger: silentLogger, userAgent: "yardmaster-bench" });
    const api = new AgentApi(http);
    const registered = await api.register(registration, { name, labels, version: "bench", concurrency: 1 });
    return new ProtocolAgent(name, registered.token, http);
  }

  /** One claim; the job (and the wall-clock moment its answer was read) or null on a 204. */
  async claim(waitSeconds: number, signal?: AbortSignal): Promise<{ assignment: JobAssignment; at: number } | null> {
    const result = await this.api.claim(this.token, { waitSeconds }, signal);
    const at = wallNow();
    if (result.kind === "invalid") throw new Error(`unreadable assignment: ${result.error}`);
    return result.kind === "job" ? { assignment: result.assignment, at } : null;
  }

  /** Ends a claimed job SUCCESS without running it (its steps are recorded as not run). */
  async finish(assignment: JobAssignment): Promise<void> {
    await this.api.job(assignment.token, assignment.job.attemptId).finish({ status: "SUCCESS", outputs: {} });
  }

  close(): void {
    this.http.close();
  }
}

// ── results ───────────────────────────────────────────────────────────────────────────────────

/** A measured figure beside its baseline (measured in the same run) and its target. */
export interface Figure {
  id: string;
  label: string;
  value: number;
  unit: string;
  baseline: { label: string; value: number; unit: string } | null;
  /**
   * How many times worse than the baseline: value ÷ baseline for times and memory, baseline ÷
   * value for rates. 1 is the baseline itself; larger is further from it.
   */
  ratio: number | null;
  /**
   * The target for this figure, on its value or on its ratio; `factor` is how far the
   * figure is from it (≤ 1: met; 2: twice too slow).
   */
  target: { on: "value" | "ratio"; op: "<=" | ">="; value: number; met: boolean; factor: number } | null;
}

export function figure(
  id: string,
  label: string,
  value: number,
  unit: string,
  options: { baseline?: Figure["baseline"]; higherIsBetter?: boolean; target?: { on?: "value" | "ratio"; op: "<=" | ">="; value: number } } = {},
): Figure {
  const { baseline = null, higherIsBetter = false, target } = options;
  const ratio = baseline && baseline.value > 0 && value > 0 ? (higherIsBetter ? baseline.value / value : value / baseline.value) : null;
  let judged: Figure["target"] = null;
  if (target) {
    const on = target.on ?? "value";
    const x = on === "ratio" ? (ratio ?? NaN) : value;
    judged = {
      on,
      op: target.op,
      value: target.value,
      met: target.op === "<=" ? x <= target.value : x >= target.value,
      factor: round(target.op === "<=" ? x / target.value : target.value / x),
    };
  }
  return {
    id,
    label,
    value: round(value),
    unit,
    baseline: baseline ? { ...baseline, value: round(baseline.value) } : null,
    ratio: ratio === null ? null : round(ratio),
    target: judged,
  };
}

export interface BenchResult {
  name: string;
  title: string;
  /** Markdown: what is measured, what starts and stops each clock, on which side. */
  definition: string;
  /** Markdown: what bounds these figures on this machine, and how far they are from it. */
  limit: string;
  figures: Figure[];
  /** Observations worth a line in the report (sizes, caveats, breakdowns). */
  notes: string[];
  /** The numbers behind the figures, for the JSON. */
  raw: Record<string, unknown>;
}

export interface BenchContext {
  /** Small sizes, for building and debugging a benchmark (`--quick`). */
  quick: boolean;
  progress: Progress;
}

export interface Benchmark {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<BenchResult>;
}

/**
 * `wrangler dev` rebuilds and restarts the worker whenever a source file changes — and other
 * engineers edit this tree while benchmarks run. A restart mid-benchmark drops held claims,
 * sockets and objects, so a benchmark whose control plane reloaded is refused, not reported.
 */
export class ReloadedError extends Error {
  constructor(what: string) {
    super(`wrangler dev reloaded during the benchmark (${what}: a source file changed); its numbers are not kept`);
    this.name = "ReloadedError";
  }
}

export function assertNoReload(cp: ControlPlane, what = "the control plane"): void {
  if (cp.output().includes("Reloading local server")) throw new ReloadedError(what);
}
