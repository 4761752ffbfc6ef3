/**
 * What every benchmark shares: the e2e harness (real `wrangler dev`, real agents), clocks,
 * percentiles, a progress line, the machine and its processes (machine.ts), a keep-alive HTTP client and closed-loop
 * load, an agent-protocol client built from the agent's own code, and the result's shape.
 *
 * Clocks. Durations inside this process use `performance.now()`. Anything compared with another
 * process — the agent, a job's step, the control plane's own timestamps — uses `wallNow()`, the
 * wall clock with sub-millisecond precision; every process here runs on the same machine, so
 * their wall clocks agree. The control plane's timestamps come from workerd, whose `Date.now()`
 * only advances on I/O: a server time is the moment the request that caused it arrived, never
 * later, so a latency measured from one can only be overstated, by that request's own CPU time.
 */
import http from "node:http";
import { AgentApi } from "../agent/protocol-client.ts";
import { HttpClient } from "../agent/client.ts";
import { silentLogger } from "../agent/logger.ts";
import type { JobAssignment } from "../domain/protocol.ts";
import { type ControlPlane, type ControlPlaneOptions, startControlPlane, stopAll } from "../test/e2e/harness.ts";

export { type AgentProcess, type ControlPlane, ROOT, startAgent, startControlPlane, stopAll, waitFor } from "../test/e2e/harness.ts";
export * from "./machine.ts";

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

/**
 * Closed-loop load compared with its baseline in alternating rounds, so that both see the same
 * machine: 3 rounds of 4 s each (one short round with --quick).
 */
export function loadRounds(quick: boolean): { roundMs: number; rounds: number } {
  return quick ? { roundMs: 1_500, rounds: 1 } : { roundMs: 4_000, rounds: 3 };
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

/** What a benchmark's body gets besides its control plane. */
export interface OnControlPlane {
  /** A keep-alive client of its own, for the `GET /api/health` baseline. */
  health: KeepAlive;
  /** Something to close when the body ends, before the control plane stops (in this order). */
  onStop(close: () => void): void;
}

/**
 * Starts a control plane, stores `pipelines` into a fresh `project` (when given), runs `body`,
 * and stops everything however it ends: every benchmark's frame, so none leaks a `wrangler dev`
 * or an agent into the next one.
 */
export async function withControlPlane<T>(
  setup: { project?: string; pipelines?: Record<string, string>; options?: ControlPlaneOptions },
  body: (cp: ControlPlane, bench: OnControlPlane) => Promise<T>,
): Promise<T> {
  const cp = await startControlPlane(setup.options);
  const health = new KeepAlive(cp.url);
  const closers: (() => void)[] = [];
  try {
    if (setup.project) await setUpPipeline(cp, setup.project, setup.pipelines ?? {});
    return await body(cp, { health, onStop: (close) => closers.push(close) });
  } finally {
    for (const close of closers) close();
    health.close();
    await stopAll();
    await cp.stop();
  }
}

// ── an agent-protocol client made of the agent's own code ────────────────────────────────────

/**
 * Speaks the agent protocol with the agent's own HTTP client and routes (agent/protocol-client.ts), but
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

  /** One idle agent heartbeat (no jobs running), as the agent sends every few seconds. */
  async heartbeat(): Promise<void> {
    await this.api.heartbeat(this.token, { jobs: [] });
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
  /** What it measured; the result carries the benchmark's own name and title (run.ts adds them). */
  run(ctx: BenchContext): Promise<Omit<BenchResult, "name" | "title">>;
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
