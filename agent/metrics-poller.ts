/**
 * Metrics while a step runs (docs/lineage.md, "Progress"): a long step appends `name=value`
 * lines to $YM_METRICS as it goes; this reads the file every `intervalMs` (2 s by default) and,
 * when what it holds changed, hands all of the step's metrics so far to `send` — the agent sends
 * them as a RUNNING step update, which the control plane records and turns into a RUNNING
 * OpenLineage event and a live update. The step's final update carries them once more at its
 * end. Only complete lines are read (the step may be writing the last one), nothing is read
 * past MAX_POLL_BYTES, and parse warnings are left to the final read (which writes them to the
 * log once).
 */
import { open } from "node:fs/promises";
import type { Metric } from "../domain/protocol.ts";
import { parseMetrics } from "./outputs-file.ts";

export const METRICS_POLL_INTERVAL_MS = 2000;
/** A metrics file past this is left to the final read (which warns about it). */
const MAX_POLL_BYTES = 1024 * 1024;

export interface MetricsPoller {
  /** Stops polling; resolves once a read in progress has ended (no report after it). */
  stop(): Promise<void>;
}

async function readCompleteLines(file: string): Promise<string> {
  const handle = await open(file, "r").catch(() => null);
  if (!handle) return "";
  try {
    const { size } = await handle.stat();
    if (size === 0 || size > MAX_POLL_BYTES) return "";
    const buffer = Buffer.alloc(size);
    const { bytesRead } = await handle.read(buffer, 0, size, 0);
    const text = buffer.subarray(0, bytesRead).toString("utf8");
    return text.slice(0, text.lastIndexOf("\n") + 1);
  } finally {
    await handle.close();
  }
}

export function pollMetrics(file: string, send: (metrics: Metric[]) => void, intervalMs: number = METRICS_POLL_INTERVAL_MS): MetricsPoller {
  let last = "[]";
  let stopped = false;
  let reading: Promise<void> = Promise.resolve();
  const tick = () => {
    reading = (async () => {
      const metrics = parseMetrics(await readCompleteLines(file)).value;
      const text = JSON.stringify(metrics);
      if (stopped || metrics.length === 0 || text === last) return;
      last = text;
      send(metrics);
    })().catch(() => {});
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref?.();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await reading;
    },
  };
}
