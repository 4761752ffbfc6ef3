import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { LogAck } from "../../../domain/protocol.ts";
import { AgentApi, JobRejectedError, LogGapError } from "../../../agent/protocol-client.ts";
import { HttpClient } from "../../../agent/client.ts";
import { silentLogger } from "../../../agent/logger.ts";
import { LogStreamer, type LogSink } from "../../../agent/log-streamer.ts";
import { startProcess } from "../../../agent/step-process.ts";
import { makeAssignment, ProtocolServer, type LogFault } from "./protocol-server.ts";

/**
 * An in-memory log store with the protocol's semantics that also checks the agent never sends
 * a byte again unless the server told it to (or the previous answer was lost).
 */
class StrictStore {
  private parts: Buffer[] = [];
  private size = 0;
  get log(): Buffer {
    const whole = Buffer.concat(this.parts, this.size);
    this.parts = [whole];
    return whole;
  }
  chunks = 0;
  requests: { seq: number; offset: number; length: number; at: number }[] = [];
  /** Where the agent may send from: what the server last told it, or a resend of a lost request. */
  private told: LogAck = { nextSeq: 0, nextOffset: 0 };
  /** Requests whose answer was lost: the client retries each (with chunks in flight, not at once). */
  private lost = new Set<string>();
  /** Where the chunk sent before this one ended: a chunk may follow it before it is answered. */
  private lastSent: LogAck | undefined;
  violations: string[] = [];
  gate: Promise<void> = Promise.resolve();
  fault: (n: number, offset: number, length: number) => "ok" | "lost" | { partial: number } | "gap" = () => "ok";

  sink: LogSink = async (seq, offset, bytes) => {
    const n = this.requests.length;
    this.requests.push({ seq, offset, length: bytes.length, at: Date.now() });
    await this.gate;
    const follows = this.lastSent !== undefined && offset === this.lastSent.nextOffset && seq === this.lastSent.nextSeq;
    this.lastSent = { nextSeq: seq + 1, nextOffset: offset + bytes.length };
    const allowed =
      follows ||
      (offset === this.told.nextOffset && seq === this.told.nextSeq) ||
      this.lost.delete(`${seq}@${offset}`);
    if (!allowed) this.violations.push(`request ${n}: seq ${seq} offset ${offset}, told ${JSON.stringify(this.told)}`);
    const f = this.fault(n, offset, bytes.length);
    if (f === "gap" && offset === this.size && bytes.length > 1) {
      this.told = this.ack();
      throw new LogGapError(this.told);
    }
    const data = typeof f === "object" ? bytes.subarray(0, f.partial) : bytes;
    if (offset > this.size) {
      this.told = this.ack();
      throw new LogGapError(this.told);
    }
    if (offset + data.length > this.size) {
      const fresh = Buffer.from(data.subarray(this.size - offset));
      this.parts.push(fresh);
      this.size += fresh.length;
      this.chunks += 1;
    }
    if (f === "lost") {
      // Stored, but the answer never arrives: the client would retry the very same request.
      this.lost.add(`${seq}@${offset}`);
      return this.sink(seq, offset, bytes, new AbortController().signal);
    }
    this.told = this.ack();
    return this.told;
  };

  ack(): LogAck {
    return { nextSeq: this.chunks, nextOffset: this.size };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("LogStreamer", () => {
  it("flushes a small write after the flush interval, not before", async () => {
    const store = new StrictStore();
    const log = new LogStreamer({ sink: store.sink });
    const start = Date.now();
    log.write("hello\n");
    await sleep(50);
    expect(store.requests).toHaveLength(0);
    await sleep(250);
    expect(store.requests).toHaveLength(1);
    expect(store.requests[0]!.at - start).toBeGreaterThanOrEqual(95);
    expect(store.requests[0]!.at - start).toBeLessThan(1000);
    await log.close();
    expect(store.log.toString()).toBe("hello\n");
  });

  it("flushes at once when 64 KiB are pending", async () => {
    const store = new StrictStore();
    const log = new LogStreamer({ sink: store.sink });
    const start = Date.now();
    log.write(Buffer.alloc(64 * 1024, 0x61));
    await sleep(30);
    expect(store.requests).toHaveLength(1);
    expect(store.requests[0]!.length).toBe(64 * 1024);
    expect(store.requests[0]!.at - start).toBeLessThan(50);
    await log.close();
  });

  it("sends a backlog in chunks of at most maxChunkBytes, in order", async () => {
    const store = new StrictStore();
    let release!: () => void;
    store.gate = new Promise((r) => (release = r));
    const log = new LogStreamer({ sink: store.sink, maxChunkBytes: 100 * 1024 });
    const input = randomBytes(1024 * 1024);
    for (let i = 0; i < input.length; i += 10_000) log.write(input.subarray(i, i + 10_000));
    release();
    await log.close();
    expect(store.log.equals(input)).toBe(true);
    expect(Math.max(...store.requests.map((r) => r.length))).toBe(100 * 1024);
    expect(store.requests.length).toBeLessThan(20);
    expect(store.violations).toEqual([]);
  });

  it("is byte-exact with invalid UTF-8 and ANSI, and never resends without cause", async () => {
    const store = new StrictStore();
    const log = new LogStreamer({ sink: store.sink, flushIntervalMs: 5, flushBytes: 1000 });
    const parts = [Buffer.from("\x1b[31mred\x1b[0m\n"), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from([0x28, 0xe2, 0x82]), randomBytes(5000)];
    for (const p of parts) {
      log.write(p);
      await sleep(7);
    }
    await log.close();
    expect(store.log.equals(Buffer.concat(parts))).toBe(true);
    expect(store.violations).toEqual([]);
  });

  it("resends after lost answers, partial stores and gaps: no loss, no duplicate", async () => {
    const store = new StrictStore();
    store.fault = (n) => (n % 5 === 1 ? "lost" : n % 5 === 2 ? { partial: 7 } : n % 5 === 3 ? "gap" : "ok");
    const log = new LogStreamer({ sink: store.sink, flushIntervalMs: 2, flushBytes: 300 });
    const input = randomBytes(20_000);
    for (let i = 0; i < input.length; i += 123) {
      log.write(input.subarray(i, i + 123));
      if (i % 1230 === 0) await sleep(3);
    }
    await log.close();
    expect(store.log.equals(input)).toBe(true);
    expect(store.violations).toEqual([]);
    expect(log.acknowledgedOffset).toBe(input.length);
  });

  it("resends from the server's offset when a gap points inside the unacknowledged bytes", async () => {
    const sent: { seq: number; offset: number; text: string }[] = [];
    let stored = "";
    const sink: LogSink = async (seq, offset, bytes) => {
      sent.push({ seq, offset, text: bytes.toString() });
      if (sent.length === 1) {
        stored = bytes.subarray(0, 4).toString(); // kept 4 bytes, then lost the rest
        throw new LogGapError({ nextSeq: 1, nextOffset: 4 });
      }
      stored = stored.slice(0, offset) + bytes.toString();
      return { nextSeq: seq + 1, nextOffset: stored.length };
    };
    const log = new LogStreamer({ sink });
    log.write("0123456789");
    await log.close();
    expect(stored).toBe("0123456789");
    expect(sent).toEqual([
      { seq: 0, offset: 0, text: "0123456789" },
      { seq: 1, offset: 4, text: "456789" },
    ]);
  });

  it("a gap before what the server already acknowledged is fatal, not a loop", async () => {
    let fatal: unknown;
    const sink: LogSink = async (_seq, offset, bytes) => {
      if (offset === 0) return { nextSeq: 1, nextOffset: bytes.length };
      throw new LogGapError({ nextSeq: 0, nextOffset: 0 });
    };
    const log = new LogStreamer({ sink, flushIntervalMs: 1, onFatal: (e) => (fatal = e) });
    log.write("first");
    await sleep(20);
    log.write("second");
    await expect(log.close()).rejects.toThrow(/outside/);
    expect(fatal).toBeDefined();
  });

  it("stops on a job refusal and never blocks producers afterwards", async () => {
    let fatal: unknown;
    const sink: LogSink = async () => {
      throw new JobRejectedError("gone", 410, "job_ended");
    };
    const log = new LogStreamer({ sink, flushIntervalMs: 1, bufferLimit: 10, maxChunkBytes: 10, onFatal: (e) => (fatal = e) });
    log.write("x".repeat(100));
    await sleep(20);
    expect(fatal).toBeInstanceOf(JobRejectedError);
    expect(log.write("more")).toBe(true);
    await expect(log.close()).rejects.toBeInstanceOf(JobRejectedError);
  });

  it("bounded buffer: write says 'full' at the limit and drains when acks arrive", async () => {
    const store = new StrictStore();
    let release!: () => void;
    store.gate = new Promise((r) => (release = r));
    const log = new LogStreamer({ sink: store.sink, bufferLimit: 256 * 1024, maxChunkBytes: 64 * 1024 });
    let accepted = 0;
    while (log.write(Buffer.alloc(10_000, 0x62))) accepted += 10_000;
    accepted += 10_000;
    expect(accepted).toBeGreaterThanOrEqual(256 * 1024);
    expect(log.bufferedBytes).toBeLessThan(256 * 1024 + 10_000);
    let drained = false;
    const drain = log.waitForDrain().then(() => (drained = true));
    await sleep(30);
    expect(drained).toBe(false);
    release();
    await drain;
    expect(log.bufferedBytes).toBeLessThan(256 * 1024);
    await log.close();
    expect(store.log.length).toBe(accepted);
  });

  it("masks secrets split across writes and across flushes", async () => {
    const store = new StrictStore();
    const log = new LogStreamer({ sink: store.sink, mask: ["s3cr3t-value"], flushIntervalMs: 10 });
    log.write("token: s3cr3t");
    await sleep(40); // a flush happens in between
    log.write("-value and base64 ");
    log.write(Buffer.from("s3cr3t-value").toString("base64").slice(0, 5));
    await sleep(40);
    log.write(`${Buffer.from("s3cr3t-value").toString("base64").slice(5)} end\n`);
    await log.close();
    expect(store.log.toString()).toBe("token: *** and base64 *** end\n");
    expect(store.requests.length).toBeGreaterThan(1);
  });

  it("lets a held tail go once the step falls silent: a last line that could begin a secret still reaches viewers", async () => {
    const store = new StrictStore();
    // A prompt ending in "5", which could begin the secret, is held back…
    const log = new LogStreamer({ sink: store.sink, mask: ["5ecret-value"], flushIntervalMs: 10, heldReleaseMs: 60 });
    log.write("pids 7794 7795");
    await sleep(30);
    expect(store.log.toString()).toBe("pids 7794 779");
    // …until nothing new has come for heldReleaseMs, while the step still runs (no close).
    await vi.waitFor(() => expect(store.log.toString()).toBe("pids 7794 7795"), { timeout: 5000, interval: 10 });
    // A secret whose pieces come within the quiet period is still masked whole.
    log.write("\nthen 5ecr");
    await sleep(20);
    log.write("et-value\n");
    await log.close();
    expect(store.log.toString()).toBe("pids 7794 7795\nthen ***\n");
  });

  it("pauses a child that writes faster than the server takes, without growing the buffer", async () => {
    const store = new StrictStore();
    const slowSink: LogSink = async (seq, offset, bytes, signal) => {
      await sleep(2);
      return store.sink(seq, offset, bytes, signal);
    };
    const limit = 512 * 1024;
    const log = new LogStreamer({ sink: slowSink, bufferLimit: limit, maxChunkBytes: 128 * 1024 });
    let peak = 0;
    const total = 16 * 1024 * 1024;
    const proc = startProcess({
      command: "head",
      args: ["-c", String(total), "/dev/urandom"],
      cwd: "/tmp",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      killGraceMs: 1000,
      onOutput: (chunk) => {
        const ok = log.write(chunk);
        peak = Math.max(peak, log.bufferedBytes);
        return ok;
      },
      waitForDrain: () => log.waitForDrain(),
    });
    const result = await proc.done;
    await log.close();
    expect(result.exitCode).toBe(0);
    expect(store.log.length).toBe(total);
    expect(peak).toBeLessThanOrEqual(limit + 2 * 64 * 1024); // one pipe read per stream past the limit
    expect(store.violations).toEqual([]);
  }, 30_000);
});

describe("LogStreamer: chunks in flight", () => {
  let server: ProtocolServer;
  afterEach(async () => server?.close());

  it("sends several chunks before the first is answered, and stores them in order, once", async () => {
    const store = new StrictStore();
    let inFlight = 0;
    let most = 0;
    let release!: () => void;
    store.gate = new Promise((r) => (release = r));
    const sink: LogSink = async (seq, offset, bytes, signal) => {
      most = Math.max(most, ++inFlight);
      if (inFlight === 4) release();
      try {
        return await store.sink(seq, offset, bytes, signal);
      } finally {
        inFlight -= 1;
      }
    };
    const log = new LogStreamer({ sink, maxChunkBytes: 64 * 1024 });
    const input = randomBytes(1024 * 1024);
    log.write(input);
    await log.close();
    expect(store.log.equals(input)).toBe(true);
    expect(most).toBe(4);
    expect(store.violations).toEqual([]);
  });

  it("a chunk that overtakes the one before it is refused (log_gap) and sent again after it: no loss, no duplicate", async () => {
    const store = new StrictStore();
    let overtaken!: () => void;
    const held = new Promise<void>((r) => (overtaken = r));
    const sink: LogSink = async (seq, offset, bytes, signal) => {
      // The second request reaches the server after the third has been answered.
      if (seq === 1 && store.requests.length === 1) {
        await held;
      } else if (seq === 2) {
        try {
          return await store.sink(seq, offset, bytes, signal);
        } finally {
          overtaken();
        }
      }
      return store.sink(seq, offset, bytes, signal);
    };
    const log = new LogStreamer({ sink, maxChunkBytes: 1000 });
    const input = randomBytes(10_000);
    log.write(input);
    await log.close();
    expect(store.log.equals(input)).toBe(true);
    const seqs = store.requests.map((r) => r.seq);
    // 2 was refused (it came before 1), then sent again once 1 was in.
    expect(seqs.filter((s) => s === 2).length).toBe(2);
    expect(store.chunks).toBe(10);
  });

  it("resends a chunk whose answer was dropped on the wire, with chunks in flight around it", async () => {
    server = await new ProtocolServer().start();
    const job = makeAssignment();
    const record = server.addJob(job);
    server.logFault = (_id, n) => (n === 1 ? "store-then-503" : "ok");
    const api = new AgentApi(new HttpClient({ url: server.url, logger: silentLogger }), { jobRetry: { baseMs: 1, capMs: 5 } });
    const jobApi = api.job(job.token, job.job.attemptId);
    const log = new LogStreamer({ sink: (seq, offset, bytes, signal) => jobApi.log(seq, offset, bytes, signal), maxChunkBytes: 4096 });
    const input = randomBytes(64 * 1024);
    log.write(input);
    await log.close();
    expect(record.log.equals(input)).toBe(true);
    expect(record.logRequests.some((r) => r.status === 503)).toBe(true);
    api.http.close();
  });
});

describe("LogStreamer over HTTP", () => {
  let server: ProtocolServer;
  afterEach(async () => server?.close());

  it("delivers every byte exactly once through 503s, lost answers, partial stores and gaps", async () => {
    server = await new ProtocolServer().start();
    const job = makeAssignment();
    const record = server.addJob(job);
    const faults: LogFault[] = ["ok", "store-then-503", "503", { partial: 11 }, "gap", "ok"];
    server.logFault = (_id, n) => faults[n % faults.length]!;
    const api = new AgentApi(new HttpClient({ url: server.url, logger: silentLogger }), { jobRetry: { baseMs: 1, capMs: 5 } });
    const jobApi = api.job(job.token, job.job.attemptId);
    const log = new LogStreamer({
      sink: (seq, offset, bytes, signal) => jobApi.log(seq, offset, bytes, signal),
      flushIntervalMs: 3,
      flushBytes: 2000,
    });
    const input = Buffer.concat([Buffer.from("\x1b[1m▶ start\x1b[0m\n"), randomBytes(50_000), Buffer.from([0xff, 0xc3, 0x28])]);
    for (let i = 0; i < input.length; i += 777) {
      log.write(input.subarray(i, i + 777));
      if (i % 7770 === 0) await sleep(4);
    }
    await log.close();
    expect(record.log.equals(input)).toBe(true);
    expect(record.logRequests.filter((r) => r.status === 409).length).toBeGreaterThan(0);
    expect(record.logRequests.filter((r) => r.status === 503).length).toBeGreaterThan(0);
    // Every 200 continued exactly where the log stood: nothing was sent twice needlessly.
    for (const r of record.logRequests) expect(r.offset).toBeLessThanOrEqual(input.length);
    api.http.close();
  });
});
