/**
 * The machine the benchmarks run on and the processes they watch: how busy the CPUs are, what
 * the machine is, each process's memory and CPU time, and which workerd of a `wrangler dev` is
 * which. Linux only (it reads /proc).
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { type ControlPlane, ROOT } from "../test/e2e/harness.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { round } from "./harness.ts";

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
