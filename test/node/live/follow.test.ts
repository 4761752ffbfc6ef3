// The live-stream client (domain/live.ts followLive) and the terminal follower's printer: each
// event once and in order across reconnects, acks as the server asks, bytes printed exactly.
import { describe, expect, it } from "vitest";
import { followLive, LiveRefused, type LiveSocket } from "../../../domain/live.ts";
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
