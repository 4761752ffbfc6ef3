/**
 * Capacity (issue 20.6): the CPU each hot call costs the control plane, measured one call at a
 * time on idle objects against the real `wrangler dev`, combined with Cloudflare's published
 * limits (bench/capacity-model.ts; docs/scale.md cites each limit) into how many agents, jobs a
 * minute, log MB/s and viewers one queue, one run and one deployment carry, and what saturates
 * first — then the same for ten queues.
 *
 * CPU is read from /proc for workerd's runtime process (the worker, both objects, local D1 and
 * R2; not wrangler's proxy, which production does not have) around each call, from before it is
 * sent until `SETTLE_MS` after its answer, so that the work it sets off (the D1 projection's
 * coalesced batch, the dispatcher's outbox) is counted with it. The clock ticks at 10 ms, so a call's cost is the sum
 * over many calls divided by their number; an idle interval of the same length is measured the
 * same way and reported, to show what the background adds.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { D1_STATEMENTS_PER_ONE_STEP_JOB } from "../durable-objects/run-object/d1-projection-cost.ts";
import { followLive, type LiveLogBytes, logBytesOf, type RunLiveEvent } from "../domain/live.ts";
import { isTerminal } from "../domain/states.ts";
import { type CallCosts, deploymentCapacity, type PlatformLimits, queueCapacity, runCapacity, type Workload } from "./capacity-model.ts";
import { assertNoReload, type Benchmark, type ControlPlane, cpuSeconds, figure, KeepAlive, ProtocolAgent, round, sleep, summarize, waitFor, withControlPlane, workerdPids } from "./harness.ts";
import { event as lineageEvent } from "./lineage-in.ts";
import { openSocket } from "./logs.ts";

/** Cloudflare's published limits (docs/scale.md, "Published limits", gives the page of each). */
export const LIMITS: PlatformLimits = {
  objectRequestsPerSecond: 1000,
  objectCpuMsPerSecond: 1000,
  socketsPerObject: 32_768,
  d1QueriesPerSecond: 1000,
  d1DatabaseBytes: 10e9,
};

/**
 * The run's D1 projection is coalesced: its batch leaves this long after a call's first change
 * (durable-objects/run-object/outboxes.ts, projectionTiming), so the settle covers it — with 60 ms
 * it landed in whichever call came ~250 ms later (the log append), which it doubled (§10.1).
 */
const PROJECTION_WINDOW_MS = 250;
const SETTLE_MS = PROJECTION_WINDOW_MS + 60;
const CHUNK = 64 * 1024;
const VIEWERS = 20;
const PIPELINE = `jobs:\n  one:\n    runs-on: [capacity]\n    steps:\n      - id: s\n        run: "true"\n`;

type Kind = keyof CallCosts | "health" | "idle";

/** CPU and wall time per kind of call, summed over the samples. */
class Meter {
  private readonly cpu = new Map<Kind, { runtime: number; n: number; wall: number[] }>();
  private readonly pid: number;
  constructor(pid: number) {
    this.pid = pid;
  }

  async measure<T>(kind: Kind, call: () => Promise<T>, settle: (value: T) => Promise<void> = () => sleep(SETTLE_MS)): Promise<T> {
    const before = cpuSeconds(this.pid) ?? 0;
    const started = performance.now();
    const value = await call();
    const wall = performance.now() - started;
    await settle(value);
    const after = cpuSeconds(this.pid) ?? 0;
    const entry = this.cpu.get(kind) ?? { runtime: 0, n: 0, wall: [] };
    entry.runtime += (after - before) * 1000;
    entry.n++;
    entry.wall.push(wall);
    this.cpu.set(kind, entry);
    return value;
  }

  cpuMs(kind: Kind): number {
    const e = this.cpu.get(kind);
    return e && e.n > 0 ? e.runtime / e.n : NaN;
  }

  samples(kind: Kind): number {
    return this.cpu.get(kind)?.n ?? 0;
  }

  wallP50(kind: Kind): number {
    return summarize(this.cpu.get(kind)?.wall ?? []).p50;
  }
}

/** Bytes the local D1 database holds (its used pages), read beside workerd through SQLite's WAL. */
function d1Bytes(cp: ControlPlane): number {
  const dir = join(cp.persistDir, "v3/d1/miniflare-D1DatabaseObject");
  if (!existsSync(dir)) return NaN;
  const files = readdirSync(dir).filter((f) => f.endsWith(".sqlite"));
  const largest = files.sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size)[0];
  if (!largest) return NaN;
  const db = new DatabaseSync(join(dir, largest), { readOnly: true });
  try {
    const one = (sql: string) => Number(Object.values(db.prepare(sql).get() ?? {})[0]);
    return (one("PRAGMA page_count") - one("PRAGMA freelist_count")) * one("PRAGMA page_size");
  } finally {
    db.close();
  }
}

/** A viewer of the run's live stream (the product's client, acknowledging as asked): log bytes it has. */
function viewer(cp: ControlPlane, runId: string, ticket: string) {
  const v = { connected: false, bytes: 0, done: Promise.resolve() as Promise<unknown> };
  v.done = followLive<RunLiveEvent | LiveLogBytes>({
    connect: (since) => openSocket(`${cp.url.replace("http", "ws")}/api/v1/runs/${runId}/live?protocol=2&ticket=${ticket}${since === null ? "" : `&since=${since}`}`),
    onSnapshot: () => void (v.connected = true),
    onEvent: (e) => {
      if (e.kind === "log") v.bytes = e.offset + logBytesOf(e).length;
      return e.kind === "transition" && e.entity === "run" && isTerminal(e.to);
    },
  });
  return v;
}

export const capacity: Benchmark = {
  name: "capacity",
  title: "Capacity: CPU per call, and what one queue, one run and one deployment carry",
  async run({ quick, progress }) {
    const samples = quick ? 6 : 40;
    const chunks = quick ? 4 : 16;
    return withControlPlane({ project: "cap", pipelines: { one: PIPELINE } }, async (cp, { health, onStop }) => {
      const meter = new Meter(workerdPids(cp).runtime);
      const warmUp = new Meter(workerdPids(cp).runtime);
      const agent = await ProtocolAgent.register(cp, "capacity", ["capacity"]);
      onStop(() => agent.close());
      const runToken = (await cp.api("POST", "/api/v1/tokens", { name: "capacity", scopes: ["run"] })).json.token as string;
      const lineage = new KeepAlive(cp.url);
      onStop(() => lineage.close());
      const chunk = Buffer.alloc(CHUNK, "capacity log line\n");
      const trigger = async () => {
        const r = await cp.api("POST", "/api/v1/projects/cap/pipelines/one/runs", {});
        if (r.status !== 201) throw new Error(`trigger: ${r.status} ${r.text}`);
        return r.json.id as string;
      };
      const claim = async () => {
        for (;;) {
          const got = await agent.claim(0);
          if (got) return got.assignment;
          await sleep(20);
        }
      };

      // One job at a time, every call on an idle object; 2 warm-up jobs are not counted.
      const d1Before = { bytes: d1Bytes(cp), jobs: 0 };
      for (let i = -2; i < samples; i++) {
        progress.update(`calls: job ${i + 1} of ${samples}`);
        const m = i < 0 ? warmUp : meter;
        await m.measure("trigger", trigger);
        const assignment = await m.measure("claim", claim);
        const job = agent.api.job(assignment.token, assignment.job.attemptId);
        const step = assignment.steps[0]!.id;
        await m.measure("stepReport", () => job.step(step, { attempt: 1, status: "RUNNING" }));
        await m.measure("logAppend", () => job.log(0, 0, chunk));
        await m.measure("jobHeartbeat", () => job.heartbeat());
        await m.measure("stepReport", () => job.step(step, { attempt: 1, status: "SUCCESS", exitCode: 0 }));
        await m.measure("finish", () => job.finish({ status: "SUCCESS", outputs: {} }));
        await m.measure("agentHeartbeat", () => agent.heartbeat());
        if ((await m.measure("emptyClaim", () => agent.claim(0))) !== null) throw new Error("a claim found a job where none was queued");
        const posted = await m.measure("lineageEvent", () => lineage.request("POST", "/api/v1/lineage", { "content-type": "application/json", authorization: `Bearer ${runToken}` }, lineageEvent("START", `cap/${i}`)));
        if (posted.status !== 201) throw new Error(`lineage event: ${posted.status} ${posted.body.toString()}`);
        await m.measure("health", () => health.request("GET", "/api/health"));
        await m.measure("idle", () => Promise.resolve());
        if (i === -1) d1Before.bytes = d1Bytes(cp);
      }
      const d1BytesPerJob = (d1Bytes(cp) - d1Before.bytes) / samples;

      // Fan-out: the same chunks appended to a run with VIEWERS viewers and with none; each
      // append's CPU counted until every viewer has its bytes.
      const fanOut = async (viewers: number) => {
        const runId = await trigger();
        const ticket = (await cp.api("POST", "/api/v1/live-tickets")).json.ticket as string;
        const watching = Array.from({ length: viewers }, () => viewer(cp, runId, ticket));
        await waitFor("every viewer's snapshot", () => watching.every((v) => v.connected), { timeoutMs: 30_000, intervalMs: 20 });
        const assignment = await claim();
        const job = agent.api.job(assignment.token, assignment.job.attemptId);
        let seq = 0;
        const before = cpuSeconds(workerdPids(cp).runtime) ?? 0;
        for (let c = 0; c < chunks; c++) {
          progress.update(`fan-out: ${viewers} viewers, chunk ${c + 1} of ${chunks}`);
          const offset = c * CHUNK;
          const ack = await job.log(seq, offset, chunk);
          seq = ack.nextSeq;
          await waitFor("every viewer has the chunk", () => watching.every((v) => v.bytes >= offset + CHUNK), { timeoutMs: 30_000, intervalMs: 5 });
          await sleep(SETTLE_MS);
        }
        const cpuMs = (((cpuSeconds(workerdPids(cp).runtime) ?? 0) - before) * 1000) / chunks;
        await job.finish({ status: "SUCCESS", outputs: {} });
        await Promise.all(watching.map((v) => v.done));
        return cpuMs;
      };
      const alone = await fanOut(0);
      const watched = await fanOut(VIEWERS);
      assertNoReload(cp);

      const costs: CallCosts = {
        claim: meter.cpuMs("claim"),
        emptyClaim: meter.cpuMs("emptyClaim"),
        agentHeartbeat: meter.cpuMs("agentHeartbeat"),
        stepReport: meter.cpuMs("stepReport"),
        logAppend: meter.cpuMs("logAppend"),
        jobHeartbeat: meter.cpuMs("jobHeartbeat"),
        finish: meter.cpuMs("finish"),
        trigger: meter.cpuMs("trigger"),
        lineageEvent: meter.cpuMs("lineageEvent"),
        fanOutPerViewerChunk: Math.max(0, watched - alone) / VIEWERS,
      };
      return report(costs, meter, { d1BytesPerJob, alone, watched, samples, chunks });
    });
  },
};

/** One lineage event (one input, one output) is one D1 batch of 5: the event, its two datasets, two trims (platform/lineage/store.ts). */
const D1_STATEMENTS_PER_LINEAGE_EVENT = 5;

function report(costs: CallCosts, meter: Meter, m: { d1BytesPerJob: number; alone: number; watched: number; samples: number; chunks: number }) {
  const work = (statements: number): Workload => ({
    stepsPerJob: 1,
    logChunksPerJob: 1,
    jobHeartbeatsPerJob: 0,
    agentHeartbeatSeconds: 5,
    claimHoldSeconds: 25,
    logChunkBytes: CHUNK,
    d1StatementsPerJob: statements,
    d1StatementsPerLineageEvent: D1_STATEMENTS_PER_LINEAGE_EVENT,
    d1BytesPerJob: m.d1BytesPerJob,
  });
  // Counted, not measured here: the benchmark cannot see D1's statements, the test that counts them can.
  const today = work(D1_STATEMENTS_PER_ONE_STEP_JOB);
  const AGENTS = 100;
  const queue = queueCapacity(LIMITS, costs, today, AGENTS);
  const run0 = runCapacity(LIMITS, costs, today, 0, 131_072);
  const run50 = runCapacity(LIMITS, costs, today, 50, 131_072);
  const one = deploymentCapacity(LIMITS, costs, today, 1, AGENTS);
  const ten = deploymentCapacity(LIMITS, costs, today, 10, AGENTS);
  const healthCpu = meter.cpuMs("health");
  const base = { label: "GET /api/health, CPU per call", value: healthCpu, unit: "ms" };
  const cpu = (id: keyof CallCosts, label: string) => figure(`capacity.cpu.${id}`, label, costs[id], "ms", { baseline: base });
  const perMin = (x: number) => Math.round(x).toLocaleString("en");
  return {
    definition: [
      "One agent-protocol client (the agent's own HTTP code) runs one-step jobs one at a time against the real `wrangler dev`, so",
      `every call meets an idle object: trigger, claim, the step's RUNNING, one ${CHUNK / 1024} KiB log chunk, a job heartbeat, the step's`,
      `end, the finish, an idle agent's heartbeat and a claim that finds nothing, and one OpenLineage START event (${m.samples} jobs; 2 warm-up jobs not counted).`,
      "",
      "- **CPU per call**: workerd's runtime process (worker, both objects, local D1 and R2; not wrangler's proxy) from `/proc`,",
      `  from sending the call until ${SETTLE_MS} ms after its answer, so the work it sets off (D1 projection, dispatcher outbox) counts;`,
      "  the 10 ms clock tick averages out over the samples. Baseline: `GET /api/health` measured the same way, interleaved.",
      `- **Fan-out per viewer per chunk**: ${m.chunks} chunks appended to a run with ${VIEWERS} live viewers (the product's \`followLive\`) and to one`,
      `  with none, each counted until every viewer has it; (with − without) ÷ ${VIEWERS}.`,
      "- **The model** (`bench/capacity-model.ts`, unit-tested): each object serves at most 1,000 requests a second and one second",
      "  of CPU a second; D1 runs ~1,000 queries a second for the whole deployment (docs/scale.md cites both). Every call's whole",
      "  CPU is charged to each object it touches, so the ceilings are floors.",
    ].join("\n"),
    limit: [
      `**One queue** (its DispatcherObject) with ${AGENTS} agents takes ${perMin(queue.jobsPerMinute)} jobs a minute (bound by its ${queue.jobsBoundBy}) and`,
      `holds at most ${queue.maxIdleAgents.toLocaleString("en")} idle agents (a heartbeat every 5 s and a claim every 25 s each; bound by ${queue.idleBoundBy}).`,
      `**One run** (its RunObject) completes ${perMin(run0.jobsPerMinute)} one-step jobs a minute (${run0.jobsBoundBy}), ingests ${round(run0.logMBps)} MB/s of log`,
      `with no viewer and ${round(run50.logMBps)} MB/s with 50, and feeds ${run0.maxViewers.toLocaleString("en")} viewers of a 128 KiB/s log (bound by ${run0.viewersBoundBy}).`,
      `**One deployment** with one queue: ${perMin(one.jobsPerMinute)} jobs a minute; what saturates first is **${one.saturatesFirst}** (queue ${perMin(one.byQueues)},`,
      `D1 ${perMin(one.byD1)} at ${D1_STATEMENTS_PER_ONE_STEP_JOB} statements a job, counted by test/workers/d1-projection-writes.test.ts). **Ten queues**: ${perMin(ten.jobsPerMinute)} jobs a minute,`,
      `${ten.saturatesFirst} first — the queues multiply, the one D1 database does not.`,
      "These CPU figures are this 2-core machine's local runtime (SQLite simulators, shared cores); Cloudflare's are other, so the",
      "ratios between calls travel better than the absolute ceilings. docs/scale.md works the model through.",
    ].join("\n"),
    figures: [
      cpu("claim", "CPU per claim (with the run's assignment)"),
      cpu("emptyClaim", "CPU per claim that finds no job"),
      cpu("stepReport", "CPU per step report"),
      cpu("logAppend", `CPU per log append (${CHUNK / 1024} KiB)`),
      cpu("finish", "CPU per finish"),
      cpu("jobHeartbeat", "CPU per job heartbeat"),
      cpu("agentHeartbeat", "CPU per agent heartbeat"),
      cpu("trigger", "CPU per trigger (POST .../runs)"),
      cpu("lineageEvent", "CPU per lineage event"),
      figure("capacity.cpu.fanOut", `CPU per viewer per ${CHUNK / 1024} KiB chunk`, costs.fanOutPerViewerChunk, "ms", { baseline: { label: "the append itself, no viewer", value: m.alone, unit: "ms" } }),
      figure("capacity.queue.jobs", `One queue, ${AGENTS} agents: jobs a minute`, queue.jobsPerMinute, "jobs/min"),
      figure("capacity.queue.agents", "One queue: idle agents", queue.maxIdleAgents, "agents"),
      figure("capacity.run.jobs", "One run: one-step jobs a minute", run0.jobsPerMinute, "jobs/min"),
      figure("capacity.run.log", "One run: log ingest, no viewer", run0.logMBps, "MB/s"),
      figure("capacity.run.log50", "One run: log ingest, 50 viewers", run50.logMBps, "MB/s"),
      figure("capacity.run.viewers", "One run: viewers of a 128 KiB/s log", run0.maxViewers, "viewers"),
      figure("capacity.deployment.jobs", "One deployment, one queue: jobs a minute", one.jobsPerMinute, "jobs/min"),
      figure("capacity.deployment10.jobs", "One deployment, ten queues: jobs a minute", ten.jobsPerMinute, "jobs/min"),
    ],
    notes: [
      `Wall time per call on an idle object, p50: claim ${round(meter.wallP50("claim"))} ms, step report ${round(meter.wallP50("stepReport"))} ms, log append ${round(meter.wallP50("logAppend"))} ms, finish ${round(meter.wallP50("finish"))} ms, lineage event ${round(meter.wallP50("lineageEvent"))} ms, health ${round(meter.wallP50("health"))} ms.`,
      `An idle ${SETTLE_MS} ms interval cost workerd ${round(meter.cpuMs("idle"))} ms of CPU (the background every figure includes).`,
      `D1 grew by ${round(m.d1BytesPerJob / 1024)} KiB a job (used pages of the local database: the run's rows and one lineage event's, so an overstatement); 10 GB then lasts ${round(one.daysToFullD1)} days at the one-queue deployment's ceiling (${perMin(one.jobsPerMinute)} jobs a minute, sustained).`,
      `A chunk of ${CHUNK / 1024} KiB cost ${round(m.alone)} ms with no viewer and ${round(m.watched)} ms with ${VIEWERS}.`,
      `Lineage events: D1 takes ~${perMin(one.lineageEventsPerSecond)} a second (${D1_STATEMENTS_PER_LINEAGE_EVENT} statements each) if it does nothing else.`,
    ],
    raw: { costs, healthCpu, idleCpu: meter.cpuMs("idle"), samples: m.samples, d1BytesPerJob: m.d1BytesPerJob, fanOut: { alone: m.alone, watched: m.watched, viewers: VIEWERS }, queue, run0, run50, one, ten, d1StatementsPerJob: D1_STATEMENTS_PER_ONE_STEP_JOB, limits: LIMITS },
  };
}
