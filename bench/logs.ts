/**
 * Logs: a job prints 50 MiB while 50 WebSocket viewers follow its run live. Measured: how fast
 * the control plane takes the log in, and how long a line takes from the job writing it to each
 * viewer reading it — flat out, and then at a pace the 50 viewers can take. Baseline: a raw
 * WebSocket echo in the same workerd (bench/echo-worker).
 *
 * The job's step (Node) writes fixed 100-byte lines, each starting with the wall-clock time it
 * was written (ms, 3 decimals) — 640 lines per write, each write waiting until the previous one
 * has gone into the pipe, so the time is when the agent can read the line; when the agent's log
 * buffer is full it stops reading, the step waits, and the wait shows up as lag, as it would on
 * a person's screen. Viewers are
 * the product's own resuming client (`followLive`, domain/live.ts, acknowledging as the server
 * asks); each decodes only the timestamps of every 16th line, so the viewers' own CPU stays
 * small next to the 3+ GB of frames they receive.
 */
import { join } from "node:path";
import { followLive, type LiveLog, type LiveLogBytes, type LiveSocket, type RunLiveEvent } from "../domain/live.ts";
import { type AgentProcess, assertNoReload, type Benchmark, type BenchContext, type ControlPlane, figure, MB, MemoryWatch, ROOT, round, roundStats, startAgent, summarize, waitFor, wallNow, withControlPlane, workerdPid } from "./harness.ts";

const VIEWERS = 50;
const LINE = 100;
/** Lines whose lag each viewer reads: one in STRIDE. */
const STRIDE = 16;
const TIMESTAMP = /^\d{13}\.\d{3}$/;
/** The second job's pace, bytes a second. */
const PACE_BYTES = 128 * 1024;

/**
 * The step: `bytes` of 100-byte lines, each starting with the time it was written; as fast as
 * the agent takes them, or at `pace` bytes a second.
 */
export function printer(key: string, label: string, bytes: number, pace: number | null): string {
  // Node queues what the pipe does not take at once: wait for "drain", so that every line is
  // stamped just before it goes to the agent, not seconds before in the step's own memory.
  const script = `
const TOTAL = ${bytes}, LINE = ${LINE}, PER_WRITE = 640, PACE = ${pace ?? 0};
const fill = "x".repeat(LINE);
const start = performance.now();
(async () => {
  let n = 0, written = 0;
  while (written < TOTAL) {
    const t = (performance.timeOrigin + performance.now()).toFixed(3);
    let s = "";
    for (let i = 0; i < PER_WRITE && written + s.length < TOTAL; i++) {
      const head = t + " " + String(n++).padStart(9, "0") + " ";
      s += head + fill.slice(0, LINE - 1 - head.length) + "\\n";
    }
    written += s.length;
    if (!process.stdout.write(s)) await new Promise((resolve) => process.stdout.once("drain", resolve));
    const ahead = PACE > 0 ? (written / PACE) * 1000 - (performance.now() - start) : 0;
    if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead));
  }
})();
`;
  return `jobs:
  ${key}:
    runs-on: [${label}]
    steps:
      - id: print
        shell: node
        run: |
${script
  .trim()
  .split("\n")
  .map((l) => `          ${l}`)
  .join("\n")}
`;
}

/** Opens a WebSocket (Node's own) as the live client expects it; rejects if it cannot connect. */
export function openSocket(url: string): Promise<LiveSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer"; // protocol 2's binary frames, as followLive reads them
    ws.addEventListener("error", () => reject(new Error(`cannot open ${url}`)), { once: true });
    ws.addEventListener("open", () => resolve(ws as unknown as LiveSocket), { once: true });
  });
}

/** Bytes a base64 text stands for, without decoding it. */
const base64Length = (s: string) => (s.length / 4) * 3 - (s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0);

export interface Viewer {
  done: Promise<unknown>;
  /** The snapshot arrived: the viewer follows the run. */
  connected: boolean;
  bytes: number;
  lags: number[];
  /** When this viewer read the last log byte (wall clock). */
  lastLogAt: number;
  /** The first line's time, the last log event's server time (`at`). */
  firstStamp: number;
  lastStoredAt: number;
  gaps: number;
  reconnects: number;
  /** Log events received (each a stored chunk). */
  events: number;
}

/** Where the step's first line sits in the job log (after the agent's step header); -1 until seen. */
export interface Lines {
  base: number;
}

export function follow(cp: ControlPlane, runId: string, ticket: string, lines: Lines): Viewer {
  const v: Viewer = { done: Promise.resolve(), connected: false, bytes: 0, lags: [], lastLogAt: 0, firstStamp: 0, lastStoredAt: 0, gaps: 0, reconnects: 0, events: 0 };
  v.done = followLive<RunLiveEvent | LiveLogBytes>({
    connect: (since) => openSocket(`${cp.url.replace("http", "ws")}/api/v1/runs/${runId}/live?protocol=2&ticket=${ticket}${since === null ? "" : `&since=${since}`}`),
    onSnapshot: () => void (v.connected = true),
    onReconnect: () => void v.reconnects++,
    onEvent: (event) => {
      if (event.kind === "transition") return event.entity === "run" && ["SUCCESS", "FAILED", "KILLED", "WARNING"].includes(event.to);
      if (event.kind !== "log") return false; // a step's metrics (`progress`)
      const now = wallNow();
      // Protocol 2 brings the bytes raw; a JSON frame (protocol 1) base64.
      const raw = "bytes" in event ? Buffer.from(event.bytes.buffer, event.bytes.byteOffset, event.bytes.byteLength) : null;
      const length = raw ? raw.length : base64Length((event as LiveLog).data);
      if (event.offset !== v.bytes) v.gaps++;
      v.events++;
      v.bytes = event.offset + length;
      v.lastLogAt = now;
      v.lastStoredAt = Math.max(v.lastStoredAt, Date.parse(event.at));
      if (lines.base < 0) {
        const text = (raw ?? Buffer.from((event as LiveLog).data, "base64")).toString("latin1");
        const at = text.search(/\d{13}\.\d{3} 000000000 /);
        if (at < 0) return false;
        lines.base = event.offset + at;
      }
      // Every STRIDE-th line whose timestamp lies wholly in this chunk: decode just those bytes.
      const firstLine = Math.max(0, Math.ceil((event.offset - lines.base) / LINE));
      for (let k = Math.ceil(firstLine / STRIDE) * STRIDE; ; k += STRIDE) {
        const p = lines.base + k * LINE - event.offset;
        if (p + 17 > length) break;
        const from = Math.floor(p / 3) * 4;
        const stamp = raw
          ? raw.toString("latin1", p, p + 17)
          : Buffer.from((event as LiveLog).data.slice(from, from + 28), "base64").toString("latin1", p % 3, (p % 3) + 17);
        if (!TIMESTAMP.test(stamp)) continue; // the agent's own lines after the step's
        if (k === 0) v.firstStamp = Number(stamp);
        v.lags.push(now - Number(stamp));
      }
      return false;
    },
  });
  return v;
}

/** The baseline: `clients` sockets each echoing `frameChars`-character text frames for `ms`. */
async function echo(clients: number, frameChars: number, ms: number) {
  return withControlPlane({ options: { configPath: join(ROOT, "bench/echo-worker/wrangler.toml"), migrate: false, healthPath: "/health" } }, async (cp) => {
    const filler = "A".repeat(frameChars);
    const rtts: number[] = [];
    let bytes = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        const ws = await openSocket(`${cp.url.replace("http", "ws")}/echo`);
        const socket = ws as unknown as WebSocket;
        await new Promise<void>((resolve) => {
          const send = () => socket.send(`${wallNow().toFixed(3).padStart(20, "0")}${filler}`);
          socket.addEventListener("message", (e: MessageEvent) => {
            const text = e.data as string;
            rtts.push(wallNow() - Number(text.slice(0, 20)));
            bytes += text.length;
            if (performance.now() - started < ms) send();
            else resolve();
          });
          send();
        });
        socket.close(1000, "done");
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    assertNoReload(cp, "the echo worker");
    return { rtt: summarize(rtts), mbPerSecond: bytes / MB / seconds, frames: rtts.length };
  });
}

interface Phase {
  bytes: number;
  stored: number;
  /** Log bytes ÷ (first line written → last chunk stored). */
  ingestMBps: number;
  /** First line written → the last viewer has the last byte. */
  deliveredSeconds: number;
  lag: ReturnType<typeof summarize>;
  stepSeconds: number;
  reconnects: number;
  viewerCpuSeconds: number;
}

/**
 * Triggers `pipeline`, connects the viewers, lets `startAgent` begin (or an agent already
 * running claim it), and waits until every viewer saw the run end with every byte in order.
 */
async function watchRun(
  cp: ControlPlane,
  pipeline: string,
  bytes: number,
  progress: BenchContext["progress"],
  timeoutMs: number,
  startAgentNow?: () => Promise<AgentProcess>,
): Promise<{ phase: Phase; agent: AgentProcess | null }> {
  const run = await cp.api("POST", `/api/v1/projects/logs/pipelines/${pipeline}/runs`, {});
  const runId = run.json.id as string;
  const ticket = (await cp.api("POST", "/api/v1/live-tickets")).json.ticket as string;
  const lines: Lines = { base: -1 };
  const viewers = Array.from({ length: VIEWERS }, () => follow(cp, runId, ticket, lines));
  await waitFor("every viewer's snapshot", () => viewers.every((v) => v.connected), { timeoutMs: 30_000, intervalMs: 50 });

  const cpuBefore = process.cpuUsage();
  const started = wallNow();
  const agent = startAgentNow ? await startAgentNow() : null;
  let finished = false;
  const all = Promise.all(viewers.map((v) => v.done)).then(() => (finished = true));
  await waitFor(
    "every viewer to see the run end",
    () => {
      const slowest = Math.min(...viewers.map((v) => v.bytes));
      progress.update(`${pipeline}: ${(viewers[0]!.bytes / MB).toFixed(1)} MiB in, slowest viewer at ${(slowest / MB).toFixed(1)} MiB, ${((wallNow() - started) / 1000).toFixed(0)} s`);
      return finished;
    },
    { timeoutMs, intervalMs: 200 },
  );
  await all;
  const cpu = process.cpuUsage(cpuBefore);
  const stored = Buffer.byteLength((await cp.api("GET", `/api/v1/runs/${runId}/jobs/${pipeline}/log`)).text);
  const complete = viewers.filter((v) => v.bytes === stored && v.gaps === 0).length;
  if (complete !== VIEWERS) throw new Error(`${pipeline}: ${VIEWERS - complete} viewers did not get the whole ${stored}-byte log in order`);

  const firstStamp = Math.min(...viewers.map((v) => v.firstStamp).filter((t) => t > 0));
  const lastStored = Math.max(...viewers.map((v) => v.lastStoredAt));
  const deliveredSeconds = (Math.max(...viewers.map((v) => v.lastLogAt)) - firstStamp) / 1000;
  const runner = agent ?? null;
  return {
    agent: runner,
    phase: {
      bytes,
      stored,
      ingestMBps: bytes / MB / ((lastStored - firstStamp) / 1000),
      deliveredSeconds,
      lag: summarize(viewers.flatMap((v) => v.lags)),
      stepSeconds: NaN,
      reconnects: viewers.reduce((n, v) => n + v.reconnects, 0),
      viewerCpuSeconds: (cpu.user + cpu.system) / 1e6,
    },
  };
}

/** How long the step of the job `key` ran, from the agent's own log lines. */
export function stepSeconds(agent: AgentProcess, key: string): number {
  const at = agent
    .output()
    .split("\n")
    .filter((l) => l.includes(`[${key} `) && /\] step print \(attempt 1\)/.test(l))
    .map((l) => Date.parse(l.slice(0, 24)));
  return at.length === 2 ? (at[1]! - at[0]!) / 1000 : NaN;
}

export const logs: Benchmark = {
  name: "logs",
  title: "Logs: ingest and live viewers",
  async run({ quick, progress }) {
    const bytes = (quick ? 5 : 50) * MB;
    // A live frame carries up to 128 KiB of log bytes as base64: the echo's frames are that size.
    const frameChars = Math.ceil((128 * 1024) / 3) * 4;
    progress.update("baseline: WebSocket echo", true);
    const base = await echo(VIEWERS, frameChars, quick ? 2_000 : 5_000);
    progress.log(`echo: ${VIEWERS} sockets, ${base.frames} frames of ${frameChars} chars, round trip p50 ${base.rtt.p50.toFixed(1)} ms p99 ${base.rtt.p99.toFixed(1)} ms, ${base.mbPerSecond.toFixed(0)} MB/s each way`);
    // A pace 50 viewers can follow: 128 KiB/s makes 8.5 MB/s of frames in all, a fraction of
    // what the echo moves here even on a busy machine, so the lag is the pipeline's, not a queue's.
    const pace = PACE_BYTES;
    const pacedBytes = Math.min(bytes, pace * (quick ? 5 : 15));

    const pipelines = { flat: printer("flat", "logs", bytes, null), paced: printer("paced", "logs-paced", pacedBytes, pace) };
    return withControlPlane({ project: "logs", pipelines }, async (cp) => {
      // One agent per job, started once its viewers are connected: a job that began before them
      // would have lines they never see live (they would have to resume from the start).
      const workerd = new MemoryWatch(workerdPid(cp), 50);
      let agentMemory: MemoryWatch | null = null;
      const { phase: flat, agent } = await watchRun(cp, "flat", bytes, progress, quick ? 120_000 : 300_000, async () => {
        const a = await startAgent(cp, { name: "printer", labels: ["logs"] });
        agentMemory = new MemoryWatch(a.process.pid!, 50);
        return a;
      });
      flat.stepSeconds = stepSeconds(agent!, "flat");
      const agentMem = (agentMemory as MemoryWatch | null)?.stop() ?? { sampledPeakMb: NaN, hwmMb: NaN };
      const workerdMem = workerd.stop();
      progress.log(`flat out: ${flat.ingestMBps.toFixed(1)} MB/s in, lag p50 ${flat.lag.p50.toFixed(0)} ms p99 ${flat.lag.p99.toFixed(0)} ms`);
      const { phase: paced, agent: pacer } = await watchRun(cp, "paced", pacedBytes, progress, 120_000, () =>
        startAgent(cp, { name: "pacer", labels: ["logs-paced"] }),
      );
      paced.stepSeconds = stepSeconds(pacer!, "paced");
      assertNoReload(cp);

      const fanout = (flat.bytes / MB / flat.deliveredSeconds) * VIEWERS * (4 / 3);
      const paceLabel = `${Math.round(pace / 1024)} KiB/s`;
      return {
        definition: [
          `One real agent runs a job whose step (Node) writes ${bytes / MB} MiB as fixed ${LINE}-byte lines, each starting with the`,
          "wall-clock time it was written (640 lines per write, each write after the previous one drained into the pipe, so that is",
          `when the agent can read it; when the agent's 8 MiB log buffer is full the step waits, and the wait counts as lag). ${VIEWERS}`,
          "viewers follow the run's live stream (`GET /api/v1/runs/:run/live`, a live ticket, Node's WebSocket, the product's",
          "`followLive` client acknowledging as the server asks), all in the benchmark's process, connected before the job starts.",
          `Then a second job writes ${(pacedBytes / MB).toFixed(1)} MiB at ${paceLabel} (${VIEWERS} viewers then take ${((PACE_BYTES * VIEWERS * 4) / 3 / MB).toFixed(1)} MB/s of frames in all, well`,
          "inside what the echo moves), followed by the same number of fresh viewers.",
          "",
          "- **Ingest throughput**: log bytes ÷ (the first line written → the last chunk stored, i.e. the last log event's `at`,",
          "  the RunObject's timestamp).",
          `- **Viewer lag**: for every ${STRIDE}th line, at every viewer: the moment the viewer's client handed it the event`,
          "  (wall clock) − the line's own timestamp. Percentiles over all lines sampled at all viewers.",
          "- **Fan-out**: what the viewers received together per second (log bytes × 4/3, as base64 in the frames) while the",
          "  flat-out job ran, from its first line to the last viewer's last byte.",
          "- **Baseline**: `bench/echo-worker`, a plain Worker that echoes WebSocket messages, in its own `wrangler dev` (same",
          `  workerd, same proxy in front), measured first: ${VIEWERS} sockets each sending a ${frameChars}-character text frame (a full`,
          "  live frame) and waiting for its echo, for 5 s. Lag baseline: its round trip; throughput baseline: characters echoed a",
          "  second, one way, all sockets together.",
          "- Every viewer must receive every byte of the stored log, in order, or the benchmark fails.",
        ].join("\n"),
        limit: [
          `Two limits, and the flat-out job meets both. **The viewers' bandwidth**: ${VIEWERS} viewers receive ${VIEWERS} × 4/3 of every byte`,
          `logged, so ingesting 20 MB/s means sending 1.3 GB/s of WebSocket frames; the echo moved ${base.mbPerSecond.toFixed(0)} MB/s on this machine, and`,
          `the fan-out delivered ${fanout.toFixed(0)} MB/s (${(fanout / base.mbPerSecond).toFixed(1)}× the echo: one read and one frame per group of viewers, sent`,
          "to each). A viewer that cannot keep up falls behind — its backlog stays in the run's storage, not in memory — and its",
          "lag grows for as long as the job out-prints it: that is the flat-out lag, seconds, however fast the server. At a pace",
          `the viewers can take (${paceLabel}) the lag is the pipeline's own: the agent holds bytes ≤ 100 ms unless 64 KiB are waiting,`,
          "the fan-out batches ≤ 25 ms, then the transport. **Ingest**: the agent sends one chunk at a time and waits for its",
          "acknowledgement (that is what makes resending exact); a chunk is what has accumulated, up to `limits.logChunkBytes`",
          `(now 1 MiB), so a backlog costs one round trip per MiB. Measured: ${flat.ingestMBps.toFixed(1)} MB/s flat out while serving the viewers.`,
          `Here all 50 viewers share one Node process, which was busy ${((flat.viewerCpuSeconds / flat.deliveredSeconds) * 100).toFixed(0)}% of the flat-out job's time (JSON-parsing`,
          "every frame): the flat-out lag is as much this machine's as the product's. On Cloudflare viewers are spread over many",
          "connections, machines and locations.",
        ].join("\n"),
        figures: [
          figure("logs.ingest", `Log ingest, ${bytes / MB} MiB flat out, ${VIEWERS} viewers`, flat.ingestMBps, "MB/s", {
            baseline: { label: "WebSocket echo, all sockets, one way", value: base.mbPerSecond, unit: "MB/s" },
            higherIsBetter: true,
            target: { op: ">=", value: 20 },
          }),
          figure("logs.fanout", `Delivered to the ${VIEWERS} viewers together (frames)`, fanout, "MB/s", {
            baseline: { label: "WebSocket echo, all sockets, one way", value: base.mbPerSecond, unit: "MB/s" },
            higherIsBetter: true,
          }),
          figure("logs.lag.p50", "Viewer lag p50, flat out", flat.lag.p50, "ms", {
            baseline: { label: "WebSocket echo round trip p50", value: base.rtt.p50, unit: "ms" },
          }),
          figure("logs.lag.p99", "Viewer lag p99, flat out", flat.lag.p99, "ms", {
            baseline: { label: "WebSocket echo round trip p99", value: base.rtt.p99, unit: "ms" },
            target: { op: "<=", value: 250 },
          }),
          figure("logs.paced.p50", `Viewer lag p50 at ${paceLabel}`, paced.lag.p50, "ms", {
            baseline: { label: "WebSocket echo round trip p50", value: base.rtt.p50, unit: "ms" },
          }),
          figure("logs.paced.p99", `Viewer lag p99 at ${paceLabel}`, paced.lag.p99, "ms", {
            baseline: { label: "WebSocket echo round trip p99", value: base.rtt.p99, unit: "ms" },
            target: { op: "<=", value: 250 },
          }),
        ],
        notes: [
          `Flat out: ${(flat.stored / MB).toFixed(1)} MiB stored; every viewer got all of it in order (${flat.reconnects} reconnects); the step ran ${flat.stepSeconds.toFixed(1)} s (it waits while the agent's buffer is full); the last viewer had the last byte ${flat.deliveredSeconds.toFixed(1)} s after the first line was written. The viewers' process used ${flat.viewerCpuSeconds.toFixed(1)} s of CPU meanwhile.`,
          `Paced: ${(paced.stored / MB).toFixed(1)} MiB in ${paced.stepSeconds.toFixed(1)} s, every viewer complete and in order; ingest kept up (${paced.ingestMBps.toFixed(2)} MB/s).`,
          `Peak memory while flat out: agent ${agentMem.sampledPeakMb} MiB, workerd ${workerdMem.sampledPeakMb} MiB (RSS, sampled every 50 ms).`,
        ],
        raw: {
          viewers: VIEWERS,
          stride: STRIDE,
          flat: { ...flat, lag: roundStats(flat.lag), ingestMBps: round(flat.ingestMBps), deliveredSeconds: round(flat.deliveredSeconds) },
          paced: { ...paced, paceBytesPerSecond: pace, lag: roundStats(paced.lag), ingestMBps: round(paced.ingestMBps), deliveredSeconds: round(paced.deliveredSeconds) },
          fanoutMBps: round(fanout),
          echo: { frameChars, frames: base.frames, rttMs: roundStats(base.rtt), mbPerSecond: round(base.mbPerSecond) },
          memory: { agent: agentMem, workerd: workerdMem },
        },
      };
    });
  },
};
