/**
 * V8 CPU profiles of the worker's isolate through `wrangler dev`'s inspector (Chrome DevTools
 * protocol), for the probes that look for where workerd's CPU goes (bench/ingest-probe.ts,
 * bench/probe-run-read.ts). Start `wrangler dev` with an inspector port (harness option
 * `inspectorPort`), then `profileSession(port)`, `start()`, the load, `stop()`, `topSelf(profile)`.
 */
import WebSocket from "ws";

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export async function profileSession(port: number, samplingIntervalUs = 500) {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl: string; title?: string }[];
  const target = targets.find((t) => !/proxy/i.test(t.title ?? "")) ?? targets[0];
  if (!target) throw new Error(`no inspector target on port ${port}`);
  // The `ws` package: wrangler's inspector proxy refuses Node's own WebSocket's upgrade.
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
  let id = 0;
  const pending = new Map<number, (v: unknown) => void>();
  ws.on("message", (m) => {
    const msg = JSON.parse(String(m)) as { id?: number; result?: unknown };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  });
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: samplingIntervalUs });
  return {
    start: () => call("Profiler.start"),
    stop: async (): Promise<CpuProfile> => {
      const { profile } = (await call("Profiler.stop")) as { profile: CpuProfile };
      ws.close();
      return profile;
    },
  };
}

/** The `n` functions with the most self time, as "share  ms  function file:line" lines. */
export function topSelf(profile: CpuProfile, n = 30): string[] {
  const self = new Map<string, number>();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  let total = 0;
  profile.samples.forEach((sample, i) => {
    const f = byId.get(sample)!.callFrame;
    const dt = profile.timeDeltas[i] ?? 0;
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${((v / total) * 100).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
}
