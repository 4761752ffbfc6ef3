/**
 * Artifacts: a real agent uploads a 256 MiB file (a multipart upload, streamed, checked by the
 * control plane), then it is downloaded through the API. Measured: throughput both ways and the
 * peak memory of the agent and of workerd. Baselines, on the same file in the same run:
 * `sha256sum` plus a local `cp` (what an upload must at least do: hash the bytes and move them
 * once), and a local `cp` alone for the download.
 */
import { spawnSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { closeSync, createWriteStream, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { assertNoReload, type Benchmark, figure, MB, MemoryWatch, processMemory, resetPeak, round, setUpPipeline, sleep, startAgent, startControlPlane, stopAll, waitFor, wallNow, workerdPids } from "./harness.ts";
import { isTerminal } from "../domain/states.ts";
import { BYTES_IN_FLIGHT_MAX, HASHED_PART_BYTES, PARTS_IN_FLIGHT } from "../agent/artifacts.ts";

/** Writes `bytes` of random data (incompressible, like a real build output). */
function randomFile(path: string, bytes: number): void {
  const fd = openSync(path, "w");
  const block = Buffer.alloc(4 * MB);
  for (let left = bytes; left > 0; left -= block.length) {
    randomFillSync(block);
    writeSync(fd, block, 0, Math.min(block.length, left));
  }
  closeSync(fd);
}

/** Runs a command and times it (ms); throws when it fails. */
function timed(command: string, args: string[]): { ms: number; stdout: string } {
  const started = performance.now();
  const r = spawnSync(command, args, { encoding: "utf8" });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`${command} failed: ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

export const artifacts: Benchmark = {
  name: "artifacts",
  title: "Artifacts: upload and download",
  async run({ quick, progress }) {
    const bytes = (quick ? 32 : 256) * MB;
    const dir = mkdtempSync(join(tmpdir(), "ym-bench-artifact-"));
    const file = join(dir, "big.bin");
    const cp = await startControlPlane();
    try {
      progress.update(`writing a ${bytes / MB} MiB file of random bytes`, true);
      randomFile(file, bytes);
      // Baselines, best of 3 (the file is in the page cache for them as it is for the agent).
      const best = (f: () => number) => Math.min(f(), f(), f());
      const sha = timed("sha256sum", [file]).stdout.split(" ")[0]!;
      const shaMs = best(() => timed("sha256sum", [file]).ms);
      const cpMs = best(() => {
        const ms = timed("cp", [file, join(dir, "copy.bin")]).ms;
        rmSync(join(dir, "copy.bin"));
        return ms;
      });
      progress.log(`baseline: sha256sum ${shaMs.toFixed(0)} ms, cp ${cpMs.toFixed(0)} ms for ${bytes / MB} MiB`);

      // The step links the file into the job's work dir (same file system), so the upload
      // reads the very bytes the baselines read; `cp` if a link is not possible.
      await setUpPipeline(cp, "artifacts", {
        upload: `jobs:
  upload:
    runs-on: [artifacts]
    steps:
      - id: link
        run: ln -f ${JSON.stringify(file)} big.bin || cp ${JSON.stringify(file)} big.bin
    artifacts: [big.bin]
`,
      });
      const agent = await startAgent(cp, { name: "uploader", labels: ["artifacts"] });
      await waitFor("the agent to register", async () => (await cp.api("GET", "/api/v1/agents")).json.items.length === 1, { timeoutMs: 60_000, intervalMs: 200 });
      await sleep(500);
      const agentIdle = processMemory(agent.process.pid!)!;
      const { runtime: workerd, proxy } = workerdPids(cp);
      const workerdIdle = processMemory(workerd)!;
      const peakResettable = resetPeak(workerd);
      const agentWatch = new MemoryWatch(agent.process.pid!, 20);
      let workerdWatch = new MemoryWatch(workerd, 20);
      // wrangler's proxy in front of the worker carries every byte too (not in production).
      const proxyWatch = proxy === null ? null : new MemoryWatch(proxy, 20);

      const run = await cp.api("POST", "/api/v1/projects/artifacts/pipelines/upload/runs", {});
      const runId = run.json.id as string;
      const started = wallNow();
      await waitFor(
        "the upload job to end",
        async () => {
          progress.update(`uploading ${bytes / MB} MiB: ${((wallNow() - started) / 1000).toFixed(0)} s`);
          const list = await cp.api("GET", `/api/v1/runs?project=artifacts&limit=1`);
          return isTerminal(list.json.items[0]?.status);
        },
        { timeoutMs: 600_000, intervalMs: 250 },
      );
      const agentMem = agentWatch.stop();
      const workerdUp = workerdWatch.stop();
      const status = (await cp.api("GET", `/api/v1/runs/${runId}`)).json.status;
      if (status !== "SUCCESS") throw new Error(`the upload job ended ${status}:\n${agent.output().slice(-3000)}`);
      const artifact = (await cp.api("GET", `/api/v1/artifacts?run=${runId}`)).json.items[0];
      if (!artifact || artifact.sha256 !== sha || artifact.size !== bytes) throw new Error(`artifact not recorded as uploaded: ${JSON.stringify(artifact)}`);
      // Up: the step's end (the agent's own log line) → the artifact recorded (the control
      // plane's timestamp, after it checked the whole file's SHA-256).
      const stepEnd = agent
        .output()
        .split("\n")
        .filter((l) => /\] step link \(attempt 1\): SUCCESS/.test(l))
        .map((l) => Date.parse(l.slice(0, 24)))[0]!;
      const upMs = Date.parse(artifact.createdAt) - stepEnd;

      // Down: the API's download streamed into a file.
      if (peakResettable) resetPeak(workerd);
      workerdWatch = new MemoryWatch(workerd, 20);
      const target = join(dir, "download.bin");
      const downStarted = performance.now();
      await new Promise<void>((resolve, reject) => {
        http
          .get(`${cp.url}/api/v1/artifacts/${artifact.id}/download`, { headers: { authorization: `Bearer ${cp.adminToken}` } }, (res) => {
            if (res.statusCode !== 200) reject(new Error(`download: ${res.statusCode}`));
            pipeline(res, createWriteStream(target)).then(resolve, reject);
          })
          .on("error", reject);
      });
      const downMs = performance.now() - downStarted;
      const workerdDown = workerdWatch.stop();
      const proxyMem = proxyWatch?.stop() ?? null;
      if (timed("sha256sum", [target]).stdout.split(" ")[0] !== sha) throw new Error("the downloaded bytes differ from the uploaded ones");

      assertNoReload(cp);
      const mbps = (ms: number) => bytes / MB / (ms / 1000);
      return {
        definition: [
          `A ${bytes / MB} MiB file of random bytes is written once; the job's step hard-links it into the job's work dir and the`,
          "job declares it as an artifact, so one real agent uploads it as a multipart upload (protocol 2: 8 MiB parts, each hashed",
          "as it is read and sent from the same bytes, 2–8 in flight; each streamed through the worker into R2); the worker then",
          "streams the stored object once more to check the whole file's SHA-256 before recording it.",
          "",
          "- **Up**: from the step's end (the agent's own timestamped log line) to the artifact's `createdAt` (the control plane's",
          "  timestamp when it recorded the checked upload): hashing, every part, the completion and the server's check.",
          "- **Down**: `GET /api/v1/artifacts/:id/download` from this process, streamed into a file: request sent → last byte",
          "  written. The file's SHA-256 is checked afterwards (not timed).",
          "- **Baselines** (same file, page cache warm, best of 3): up = `sha256sum` + `cp` of the file; down = `cp`.",
          "- **Memory**: peak RSS of the agent process (sampled every 20 ms and the kernel's VmHWM) against its RSS idle before the",
          "  job; workerd's (every Worker, Durable Object, D1 and R2 of `wrangler dev` live in that one process) likewise.",
        ].join("\n"),
        limit: [
          `Up, the bytes are read twice: the agent reads the file once, hashing each ${HASHED_PART_BYTES / MB} MiB part as it sends it (${PARTS_IN_FLIGHT} in flight, more`,
          `while the throughput grows, up to ${BYTES_IN_FLIGHT_MAX / MB} MiB of parts), and the worker streams the stored object back to check the whole file's SHA-256`,
          "(R2 checks a single PUT's hash itself, not a multipart upload's). Every byte also crosses wrangler's proxy (a second workerd in front of the worker that production does not",
          "have) and miniflare's local R2, which keeps objects in files through its own worker. The floor is the baseline: one",
          `hash and one copy. Measured: up ${(((shaMs + cpMs) / upMs) * 100).toFixed(0)}% of the baseline's speed, down ${((cpMs / downMs) * 100).toFixed(1)}% of a local copy's.`,
          "Memory: the agent runs as it ships, one bundled JavaScript file (run from its TypeScript sources, Node's type stripping",
          `loads a compiler that adds ~35 MiB to every agent). It holds the parts in flight (at most ${BYTES_IN_FLIGHT_MAX / MB} MiB, their buffers reused`,
          `from part to part), and its resident size rose ${(Math.max(agentMem.sampledPeakMb, agentMem.hwmMb) - agentIdle.rssMb).toFixed(0)} MiB above idle: bounded by the bytes in flight, not by the file's`,
          "size. workerd streams; its rise is its buffers",
          "and the local R2's.",
        ].join("\n"),
        figures: [
          figure("artifacts.up", `Upload, ${bytes / MB} MiB`, mbps(upMs), "MB/s", {
            baseline: { label: "sha256sum + cp", value: mbps(shaMs + cpMs), unit: "MB/s" },
            higherIsBetter: true,
            // Issue 20's upload target (issue 8 asked 100 MB/s both ways; the download's stays).
            target: { op: ">=", value: 60 },
          }),
          figure("artifacts.down", `Download, ${bytes / MB} MiB`, mbps(downMs), "MB/s", {
            baseline: { label: "cp", value: mbps(cpMs), unit: "MB/s" },
            higherIsBetter: true,
            target: { op: ">=", value: 100 },
          }),
          figure("artifacts.agentMemory", "Agent peak RSS during the upload", Math.max(agentMem.sampledPeakMb, agentMem.hwmMb), "MiB", {
            baseline: { label: "the agent idle", value: agentIdle.rssMb, unit: "MiB" },
            target: { op: "<=", value: 150 },
          }),
          figure("artifacts.workerdMemory", "workerd peak RSS during the upload", workerdUp.sampledPeakMb, "MiB", {
            baseline: { label: "workerd idle", value: workerdIdle.rssMb, unit: "MiB" },
          }),
        ],
        notes: [
          `Up ${(upMs / 1000).toFixed(1)} s, down ${(downMs / 1000).toFixed(1)} s; sha256sum ${(shaMs / 1000).toFixed(2)} s, cp ${(cpMs / 1000).toFixed(2)} s.`,
          `workerd peak RSS during the download: ${workerdDown.sampledPeakMb} MiB${peakResettable ? ` (VmHWM ${workerdDown.hwmMb} MiB)` : ""}.${proxyMem ? ` wrangler's proxy workerd (in front of the worker, up and down): peak ${proxyMem.sampledPeakMb} MiB.` : ""}`,
        ],
        raw: {
          bytes,
          upMs: round(upMs),
          downMs: round(downMs),
          sha256sumMs: round(shaMs),
          cpMs: round(cpMs),
          memoryMb: {
            agentIdle: round(agentIdle.rssMb),
            agent: agentMem,
            workerdIdle: round(workerdIdle.rssMb),
            workerdUpload: workerdUp,
            workerdDownload: workerdDown,
            wranglerProxy: proxyMem,
            vmHwmReset: peakResettable,
          },
        },
      };
    } finally {
      await stopAll();
      await cp.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
