/**
 * The files a step writes through `$YM_OUTPUT` and `$YM_METRICS`.
 *
 * YM_OUTPUT (GitHub's GITHUB_OUTPUT format): `key=value` lines, and multi-line values as
 *   key<<DELIM
 *   line 1
 *   line 2
 *   DELIM
 * A later line for the same key wins.
 *
 * YM_METRICS: `name=12` or `name=-3.5` (counter; the same name adds up) and `name=1.5s`,
 * `name=250ms`, `name=2m`, `name=1h` (duration, reported in seconds; the same name adds up
 * as well, e.g. time spent in several compile passes). Lines that do not parse are reported
 * as warnings, never as failures.
 */
import { type Metric, OUTPUT_LIMITS, outputsBytes, utf8Bytes } from "../domain/protocol.ts";

export interface Parsed<T> {
  value: T;
  warnings: string[];
}

/** What the agent keeps of a step's metrics file (the server's output limits are domain/protocol.ts OUTPUT_LIMITS). */
export const METRIC_LIMITS = {
  metrics: 1000,
  metricName: 200,
} as const;

/**
 * Keeps outputs under the server's total: the largest values are dropped (with a warning)
 * until the rest fits, so that one oversized output does not get the whole update refused.
 */
export function limitOutputs(outputs: Readonly<Record<string, string>>, max: number = OUTPUT_LIMITS.totalBytes): Parsed<Record<string, string>> {
  const warnings: string[] = [];
  let entries = Object.entries(outputs);
  if (entries.length > OUTPUT_LIMITS.keys) {
    for (const [k] of entries.slice(OUTPUT_LIMITS.keys)) warnings.push(`output "${k}" dropped: a step may have at most ${OUTPUT_LIMITS.keys} outputs`);
    entries = entries.slice(0, OUTPUT_LIMITS.keys);
  }
  const kept = new Map(entries);
  // Counted as the server counts: the outputs as JSON, in UTF-8 bytes.
  for (const [k, v] of [...entries].sort((a, b) => utf8Bytes(b[1]) - utf8Bytes(a[1]))) {
    if (outputsBytes(Object.fromEntries(kept)) <= max) break;
    kept.delete(k);
    warnings.push(`output "${k}" (${utf8Bytes(v)} bytes) dropped: a step's outputs may total at most ${max} bytes as JSON`);
  }
  return { value: Object.fromEntries(kept), warnings };
}

export function parseOutputs(text: string): Parsed<Record<string, string>> {
  const outputs: Record<string, string> = {};
  const warnings: string[] = [];
  const lines = text.split(/\r?\n/);
  // A file that ends with a newline yields an empty last element: not a line.
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const set = (key: string, value: string, lineNo: number) => {
    if (utf8Bytes(key) > OUTPUT_LIMITS.keyBytes) {
      warnings.push(`YM_OUTPUT line ${lineNo}: output name longer than ${OUTPUT_LIMITS.keyBytes} bytes, ignored`);
      return;
    }
    if (Buffer.byteLength(value, "utf8") > OUTPUT_LIMITS.valueBytes) {
      warnings.push(`YM_OUTPUT line ${lineNo}: value of "${key}" is larger than 1 MiB, ignored`);
      return;
    }
    outputs[key] = value;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const lineNo = i + 1;
    if (line.trim() === "") continue;
    const eq = line.indexOf("=");
    const heredoc = line.indexOf("<<");
    if (heredoc > 0 && (eq === -1 || heredoc < eq)) {
      const key = line.slice(0, heredoc).trim();
      const delimiter = line.slice(heredoc + 2).trim();
      if (!key || !delimiter) {
        warnings.push(`YM_OUTPUT line ${lineNo}: expected key<<DELIMITER`);
        continue;
      }
      const body: string[] = [];
      let j = i + 1;
      for (; j < lines.length && lines[j] !== delimiter; j++) body.push(lines[j]!);
      if (j >= lines.length) {
        warnings.push(`YM_OUTPUT line ${lineNo}: no closing "${delimiter}" for "${key}", ignored`);
        break;
      }
      set(key, body.join("\n"), lineNo);
      i = j;
      continue;
    }
    if (eq <= 0) {
      warnings.push(`YM_OUTPUT line ${lineNo}: expected key=value or key<<DELIMITER`);
      continue;
    }
    set(line.slice(0, eq).trim(), line.slice(eq + 1), lineNo);
  }
  return { value: outputs, warnings };
}

const COUNTER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const DURATION = /^(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)$/;
const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

export function parseMetrics(text: string): Parsed<Metric[]> {
  const byName = new Map<string, Metric>();
  const warnings: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const lineNo = i + 1;
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) {
      warnings.push(`YM_METRICS line ${lineNo}: expected name=value`);
      continue;
    }
    const name = line.slice(0, eq).trim();
    const raw = line.slice(eq + 1).trim();
    if (name.length > METRIC_LIMITS.metricName) {
      warnings.push(`YM_METRICS line ${lineNo}: metric name longer than ${METRIC_LIMITS.metricName} characters`);
      continue;
    }
    let metric: Metric;
    const d = DURATION.exec(raw);
    if (COUNTER.test(raw)) metric = { name, kind: "counter", value: Number(raw) };
    else if (d) metric = { name, kind: "duration", value: Number(d[1]) * UNIT_SECONDS[d[2]!]! };
    else {
      warnings.push(`YM_METRICS line ${lineNo}: "${raw}" is neither a number nor a duration (1.5s, 250ms, 2m, 1h)`);
      continue;
    }
    if (!Number.isFinite(metric.value)) {
      warnings.push(`YM_METRICS line ${lineNo}: "${raw}" is not a finite number`);
      continue;
    }
    const prev = byName.get(name);
    if (prev && prev.kind !== metric.kind) {
      warnings.push(`YM_METRICS line ${lineNo}: "${name}" was a ${prev.kind}, now a ${metric.kind}; ignored`);
      continue;
    }
    if (prev) prev.value = roundSeconds(prev.value + metric.value);
    else if (byName.size >= METRIC_LIMITS.metrics) {
      warnings.push(`YM_METRICS line ${lineNo}: more than ${METRIC_LIMITS.metrics} metrics; ignored`);
      continue;
    } else byName.set(name, { ...metric, value: roundSeconds(metric.value) });
  }
  return { value: [...byName.values()], warnings };
}

/** Avoids 0.1 + 0.2 noise in reported values. */
function roundSeconds(v: number): number {
  return Math.round(v * 1e9) / 1e9;
}
