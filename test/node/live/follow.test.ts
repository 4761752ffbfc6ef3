// The live-stream client (domain/live.ts followLive) and the terminal follower's printer: each
// event once and in order across reconnects, acks as the server asks, bytes printed exactly.
import { describe, expect, it } from "vitest";
import { encodeEventsFrame, followLive, LIVE_PROTOCOL_BINARY, type LiveLogBytes, LiveRefused, logBytesOf, type LiveSocket, type RunLiveEvent } from "../../../domain/live.ts";
import { LogPrinter } from "../../../agent/follow-logs.ts";

/** A socket driven by the test: it records what the client sends and replays server frames. */
class ScriptedSocket implements LiveSocket {
  sent: string[] = [];
  private listeners: Record<string, ((e: any) => void)[]> = {};
  send(data: string) {
    this.sent.push(data);
  }
  close(code = 1000, reason = "") {
    this.emit("close", { code, reason });
  }
  addEventListener(type: string, listener: (e: any) => void) {
    (this.listeners[type] ??= []).push(listener);
  }
  emit(type: string, event: unknown) {
    for (const l of this.listeners[type] ?? []) l(event);
  }
  frame(frame: unknown) {
    this.emit("message", { data: JSON.stringify(frame) });
  }
}

const ev = (seq: number) => ({ seq, kind: "x" });

describe("followLive", () => {
  it("delivers each event once, in order, resuming with since after a drop", async () => {
    const sockets: ScriptedSocket[] = [];
    const sinces: (number | null)[] = [];
    const seen: number[] = [];
    const done = followLive<{ seq: number }>({
      connect: async (since) => {
        sinces.push(since);
        const socket = new ScriptedSocket();
        sockets.push(socket);
        setTimeout(() => {
          if (since === null) {
            socket.frame({ type: "snapshot", protocol: 1, seq: 3, window: 1000 });
            socket.frame({ type: "events", seq: 5, events: [ev(4), ev(5)] });
            socket.emit("close", { code: 4008, reason: "too slow" });
          } else {
            socket.frame({ type: "resumed", protocol: 1, seq: since, window: 1000 });
            // A server bug re-sending 5 would not reach onEvent twice.
            socket.frame({ type: "events", seq: 7, events: [ev(5), ev(6), ev(7)] });
          }
        }, 0);
        return socket;
      },
      onEvent: (e) => {
        seen.push(e.seq);
        return e.seq === 7;
      },
    });
    const result = await done;
    expect(sinces).toEqual([null, 5]);
    expect(seen).toEqual([4, 5, 6, 7]);
    expect(result).toEqual({ seq: 7, ended: "stopped" });
  });

  it("reads protocol 2's binary events frames: a log event's bytes arrive raw and exact, other events as JSON", async () => {
    const logBytes = new Uint8Array([0x1b, 0x5b, 0x33, 0x32, 0x6d, 0xff, 0x00, 0x0a]); // ANSI, invalid UTF-8, NUL
    const log = { seq: 2, kind: "log", at: "t", jobKey: "j", jobAttemptId: "a", runAttempt: 1, jobAttempt: 1, offset: 10 };
    const transition = { seq: 3, kind: "transition", entity: "run", to: "SUCCESS" };
    const frame = encodeEventsFrame(3, [JSON.stringify(log), JSON.stringify(transition)], [logBytes, undefined], LIVE_PROTOCOL_BINARY);
    expect(frame).toBeInstanceOf(Uint8Array);
    const seen: (RunLiveEvent | LiveLogBytes)[] = [];
    await followLive<RunLiveEvent | LiveLogBytes>({
      connect: async () => {
        const socket = new ScriptedSocket();
        setTimeout(() => {
          socket.frame({ type: "snapshot", protocol: 2, seq: 1, window: 1000 });
          // As a socket whose binaryType is "arraybuffer" hands it over.
          const bytes = frame as Uint8Array;
          socket.emit("message", { data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
        }, 0);
        return socket;
      },
      onEvent: (e) => {
        seen.push(e);
        return e.seq === 3;
      },
    });
    expect(seen.map((e) => e.kind)).toEqual(["log", "transition"]);
    expect(logBytesOf(seen[0] as LiveLogBytes)).toEqual(logBytes);
    expect(seen[0]).toMatchObject({ offset: 10, jobKey: "j" });
  });

  it("acks at once when half the window is waiting, and holds acks under back-pressure", async () => {
    const socket = new ScriptedSocket();
    let release: () => void = () => {};
    let blocked = false;
    void followLive<{ seq: number }>({
      connect: async () => socket,
      onEvent: () => false,
      ackEveryMs: 10_000,
      backpressure: () => (blocked ? new Promise<void>((r) => (release = r)) : undefined),
    });
    await new Promise((r) => setTimeout(r, 0));
    socket.frame({ type: "snapshot", protocol: 1, seq: 1, window: 400 });
    socket.frame({ type: "events", seq: 2, events: [{ seq: 2, pad: "x".repeat(300) }] });
    expect(socket.sent.map((s) => JSON.parse(s))).toEqual([{ type: "ack", seq: 2 }]);
    blocked = true;
    socket.frame({ type: "events", seq: 3, events: [{ seq: 3, pad: "x".repeat(300) }] });
    expect(socket.sent).toHaveLength(1);
    release();
    await new Promise((r) => setTimeout(r, 0));
    expect(JSON.parse(socket.sent[1]!)).toEqual({ type: "ack", seq: 3 });
    socket.close(1000);
  });

  it("throws a refusal instead of retrying it", async () => {
    await expect(
      followLive({ connect: async () => Promise.reject(new LiveRefused("401 the token is unknown")), onEvent: () => false }),
    ).rejects.toThrow("401 the token is unknown");
  });
});

describe("LogPrinter", () => {
  const run = (prefixed: boolean, writes: [string, string][]) => {
    const out: Uint8Array[] = [];
    const printer = new LogPrinter((b) => out.push(b.slice()), prefixed, false);
    for (const [label, text] of writes) printer.print(label, new TextEncoder().encode(text));
    printer.end();
    return Buffer.concat(out).toString("utf8");
  };

  it("prints one job's bytes untouched", () => {
    expect(run(false, [["a", "\x1b[31mred"], ["a", "\x1b[0m\npartial"]])).toBe("\x1b[31mred\x1b[0m\npartial");
  });

  it("prefixes whole lines per job when several jobs interleave", () => {
    expect(run(true, [["a", "one\ntw"], ["b", "B1\n"], ["a", "o\n"], ["b", "tail"]])).toBe("[a] one\n[b] B1\n[a] two\n[b] tail\n");
  });
});
