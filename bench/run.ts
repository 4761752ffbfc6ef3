/**
 * `npm run bench [-- <name>…] [--quick] [--max-wait <seconds>] [--report-only]`: runs the benchmarks (all, or
 * the ones named) against the real `wrangler dev` and real agent processes, one after the
 * other, each with its own control plane, and writes `bench/results/latest.json` (every number)
 * and `BENCHMARKS.md` (the report). A benchmark run alone replaces only its own section.
 *
 * The machine is shared: before each benchmark the runner waits (up to --max-wait, default
 * 60 s) for the CPUs to be mostly idle, and records how loaded they were either way. Every
 * figure is set beside a baseline measured in the same run, so its ratio survives the noise.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { artifacts } from "./artifacts.ts";
import { caches } from "./caches.ts";
import { api } from "./api.ts";
import { capacity } from "./capacity.ts";
import { engineCost } from "./engine.ts";
import { type Benchmark, type BenchResult, cpuBusy, ReloadedError, machineInfo, machineLoad, type MachineLoad, Progress, ROOT, round, sleep, stopAll } from "./harness.ts";
import { lineageIn } from "./lineage-in.ts";
import { logStore } from "./log-store.ts";
import { logs } from "./logs.ts";
import { overhead } from "./overhead.ts";
import { pickup } from "./pickup.ts";
import { queueDepth } from "./queue-depth.ts";
import { writeReport } from "./report.ts";
import { writes } from "./writes.ts";

const BENCHMARKS: Benchmark[] = [engineCost, pickup, overhead, logs, logStore, queueDepth, artifacts, caches, api, writes, lineageIn, capacity];

export interface StoredRun extends BenchResult {
  startedAt: string;
  seconds: number;
  quick: boolean;
  machine: ReturnType<typeof machineInfo>;
  loadBefore: MachineLoad;
  loadAfter: { loadavg: number[] };
  /** Seconds spent waiting for a quieter machine before starting. */
  waitedSeconds: number;
}

export interface Results {
  runs: Record<string, StoredRun>;
}

export const RESULTS = join(ROOT, "bench/results/latest.json");

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: "boolean", default: false },
    "report-only": { type: "boolean", default: false },
    "max-wait": { type: "string", default: "60" },
    help: { type: "boolean", default: false },
  },
});

if (values.help) {
  console.log(`Usage: npm run bench [-- <name>…] [--quick] [--max-wait <seconds>] [--report-only]

Benchmarks: ${BENCHMARKS.map((b) => b.name).join(", ")} (default: all, in that order)
  --quick          small sizes, to build and debug a benchmark (not for the report)
  --report-only    rewrite BENCHMARKS.md from bench/results/latest.json (after editing bench/improvements.md)
  --max-wait S     wait up to S seconds for an idle machine before each benchmark (default 60)`);
  process.exit(0);
}

const unknown = positionals.filter((n) => !BENCHMARKS.some((b) => b.name === n));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(", ")}; known: ${BENCHMARKS.map((b) => b.name).join(", ")}`);
  process.exit(2);
}
const selected = positionals.length > 0 ? BENCHMARKS.filter((b) => positionals.includes(b.name)) : BENCHMARKS;
const maxWait = Number(values["max-wait"]);

// Whatever happens (an error, Ctrl-C), every process a benchmark started is stopped.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    void stopAll().finally(() => process.exit(130));
  });
}

const results: Results = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, "utf8")) as Results) : { runs: {} };
mkdirSync(join(ROOT, "bench/results"), { recursive: true });
if (values["report-only"]) {
  writeReport(results);
  process.exit(0);
}
let failed = false;

// The agents run as they ship: the bundle (agent/build.mjs), not the TypeScript sources, whose
// type stripping would add a compiler to each agent's memory.
const agentBundle = join(ROOT, "bench/results/yardmaster-agent.tmp.mjs");
execFileSync(process.execPath, [join(ROOT, "agent/build.mjs"), "--outfile", agentBundle], { stdio: "inherit" });
process.env.YM_AGENT_ENTRY = agentBundle;

for (const bench of selected) {
  const progress = new Progress(bench.name);
  // Others' tests share these two cores: wait a little for a quiet moment, then go anyway.
  const waitStarted = Date.now();
  let busy = await cpuBusy(2_000);
  while (busy > 0.35 && Date.now() - waitStarted < maxWait * 1000) {
    progress.update(`machine busy (${Math.round(busy * 100)}% of the CPUs in use by others); waiting for a quieter moment`, true);
    await sleep(8_000);
    busy = await cpuBusy(2_000);
  }
  const loadBefore = await machineLoad();
  progress.log(`starting (load ${loadBefore.loadavg.join(" ")}, ${Math.round(loadBefore.busy * 100)}% busy)${values.quick ? " [quick]" : ""}`);
  const started = Date.now();
  try {
    const measure = async (): Promise<BenchResult> => ({ name: bench.name, title: bench.title, ...(await bench.run({ quick: values.quick, progress })) });
    let result: BenchResult;
    try {
      result = await measure();
    } catch (error) {
      if (!(error instanceof ReloadedError)) throw error;
      progress.log(`${error.message}; running it once more`);
      await stopAll();
      result = await measure();
    }
    progress.done();
    const run: StoredRun = {
      ...result,
      startedAt: new Date(started).toISOString(),
      seconds: round((Date.now() - started) / 1000),
      quick: values.quick,
      machine: machineInfo(),
      loadBefore,
      loadAfter: { loadavg: loadavg().map(round) },
      waitedSeconds: round((started - waitStarted) / 1000),
    };
    results.runs[bench.name] = run;
    writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
    writeReport(results);
    for (const f of result.figures) {
      const ratio = f.ratio === null ? "" : ` (${f.ratio}× the baseline ${f.baseline!.value} ${f.baseline!.unit})`;
      const target = f.target ? `; target ${f.target.on === "ratio" ? "ratio " : ""}${f.target.op} ${f.target.value}: ${f.target.met ? "met" : "MISSED"}` : "";
      progress.log(`${f.label}: ${f.value} ${f.unit}${ratio}${target}`);
    }
    progress.log(`done in ${run.seconds} s`);
  } catch (error) {
    failed = true;
    progress.done();
    progress.log(`FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    await stopAll();
  }
}
process.exit(failed ? 1 : 0);
