/**
 * Live-stream tests' tools: open a WebSocket through the real worker (`exports.default.fetch`
 * with `Upgrade: websocket`), collect its frames, and drive a run through the agent protocol
 * the way an agent does (register, claim, step updates, log chunks, finish).
 */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { base64ToBytes, decodeServerFrame, type RunLiveEvent, type ServerFrame } from "../../domain/live.ts";
import { ADMIN, api } from "./api-client.ts";

export interface Viewer<E = RunLiveEvent> {
  ws: WebSocket;
  frames: ServerFrame<E>[];
  /** Every event received, in order. */
  events: E[];
  closed: Promise<{ code: number; reason: string }>;
  /** How many frames came as binary (protocol 2's events frames with log bytes). */
  binaryFrames(): number;
  isClosed(): boolean;
  ack(seq?: number): void;
  /** Waits until `check` holds (polling the collected frames). */
  until<T>(what: string, check: () => T | undefined | null | false, timeoutMs?: number): Promise<T>;
}

/** Opens a live stream; `autoAck` acknowledges every frame at once (a healthy client). */
export async function openLive<E = RunLiveEvent>(
  path: string,
  options: { token?: string | null; headers?: Record<string, string>; autoAck?: boolean } = {},
): Promise<Viewer<E>> {
  const headers: Record<string, string> = { upgrade: "websocket", ...options.headers };
  const token = options.token === undefined ? ADMIN : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await exports.default.fetch(`http://yardmaster.test${path}`, { headers });
  if (response.status !== 101 || !response.webSocket) {
    throw new Error(`expected 101, got ${response.status}: ${await response.text()}`);
  }
  const ws = response.webSocket;
  ws.accept();
  // Binary frames (protocol 2) as ArrayBuffers, which decodeServerFrame reads, not Blobs.
  (ws as unknown as { binaryType: string }).binaryType = "arraybuffer";
  const frames: ServerFrame<E>[] = [];
  const events: E[] = [];
  let closedNow = false;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.addEventListener("close", (event) => {
      closedNow = true;
      resolve({ code: event.code, reason: event.reason });
    });
  });
  let last = 0;
  let binary = 0;
  ws.addEventListener("message", (event) => {
    if (typeof event.data !== "string") binary++;
    const frame = decodeServerFrame(event.data as string | ArrayBuffer) as ServerFrame<E>;
    frames.push(frame);
    last = frame.seq;
    if (frame.type === "events") events.push(...frame.events);
    if (options.autoAck !== false) ws.send(JSON.stringify({ type: "ack", seq: frame.seq }));
  });
  return {
    ws,
    frames,
    events,
    closed,
    binaryFrames: () => binary,
    isClosed: () => closedNow,
    ack: (seq = last) => ws.send(JSON.stringify({ type: "ack", seq })),
    until: (what, check, timeoutMs = 5_000) => waitUntil(what, check, timeoutMs),
  };
}

export async function waitUntil<T>(what: string, check: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The log bytes of one job attempt in the events, concatenated in order, as text. */
export function logText(events: RunLiveEvent[], jobKey?: string): string {
  const decoder = new TextDecoder();
  return events
    .filter((e) => e.kind === "log" && (jobKey === undefined || e.jobKey === jobKey))
    .map((e) => decoder.decode(base64ToBytes((e as Extract<RunLiveEvent, { kind: "log" }>).data)))
    .join("");
}

export function seqs(events: { seq: number }[]): number[] {
  return events.map((e) => e.seq);
}

// ── an agent, over the agent protocol ──────────────────────────────────────────────────────

export interface Job {
  token: string;
  attemptId: string;
  key: string;
  steps: { id: string }[];
  /** The next log chunk's seq and offset. */
  logSeq: number;
  logOffset: number;
}

export async function registerAgent(name = "agent", labels = ["linux"]): Promise<string> {
  const registration = await api("POST", "/api/v1/agent-tokens", { body: { name } });
  const registered = await api("POST", "/api/agent/v1/register", {
    token: registration.json.token,
    body: { name, labels, version: "test", concurrency: 1 },
  });
  expect(registered.status).toBe(201);
  return registered.json.token as string;
}

export async function claim(agentToken: string): Promise<Job> {
  // The run hands its ready jobs to the dispatcher right after answering: wait a little for them.
  const claimed = await api("POST", "/api/agent/v1/claim", { token: agentToken, body: { waitSeconds: 5 } });
  expect(claimed.status, claimed.text).toBe(200);
  const a = claimed.json;
  return { token: a.token, attemptId: a.job.attemptId, key: a.job.key, steps: a.steps, logSeq: 0, logOffset: 0 };
}

export async function step(job: Job, stepId: string, status: string, extra: Record<string, unknown> = {}) {
  const result = await api("POST", `/api/agent/v1/jobs/${job.attemptId}/steps/${stepId}`, {
    token: job.token,
    body: { attempt: 1, status, ...extra },
  });
  expect(result.status, result.text).toBe(200);
}

export async function log(job: Job, data: string | Uint8Array) {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const result = await api("POST", `/api/agent/v1/jobs/${job.attemptId}/logs?seq=${job.logSeq}&offset=${job.logOffset}`, {
    token: job.token,
    raw: bytes,
    headers: { "content-type": "application/octet-stream" },
  });
  expect(result.status, result.text).toBe(200);
  job.logSeq += 1;
  job.logOffset += bytes.byteLength;
}

export async function finish(job: Job, status = "SUCCESS") {
  const result = await api("POST", `/api/agent/v1/jobs/${job.attemptId}/finish`, { token: job.token, body: { status } });
  expect(result.status, result.text).toBe(200);
}

/** Runs every step of a claimed job to SUCCESS. */
export async function runSteps(job: Job) {
  for (const s of job.steps) {
    await step(job, s.id, "RUNNING");
    await step(job, s.id, "SUCCESS", { exitCode: 0 });
  }
}
