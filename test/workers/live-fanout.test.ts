// Fan-out that holds: hundreds of viewers of one run all get every message, and a viewer that
// stops acknowledging is paused at its window, then dropped (4008), without slowing the rest.
// (vitest.config.ts sets YM_LIVE_STALL_SECONDS=1.)
import { describe, expect, it } from "vitest";
import { DEFAULT_FANOUT } from "../../durable-objects/live-fanout.ts";
import { api, PIPELINE, projectWithPipeline } from "./api-client.ts";
import { claim, log, logText, openLive, registerAgent, step, type Viewer } from "./live-helpers.ts";

async function runningJob(slug: string) {
  await projectWithPipeline(slug, PIPELINE.replaceAll("runs-on: [linux]", `runs-on: [${slug}]`));
  const run = (await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`)).json as { id: string };
  const job = await claim(await registerAgent(slug, [slug]));
  await step(job, "install", "RUNNING");
  return { run, job };
}

const received = (viewer: Viewer) => viewer.frames.reduce((n, f) => n + JSON.stringify(f).length, 0);

describe("live fan-out", () => {
  it("drops a viewer that stops acknowledging, while the others get everything", async () => {
    const { run, job } = await runningJob("slow-viewer");
    const fast = await openLive(`/api/v1/runs/${run.id}/live?job=test`);
    const slow = await openLive(`/api/v1/runs/${run.id}/live?job=test`, { autoAck: false });
    const chunk = "z".repeat(64 * 1024 - 1) + "\n";
    const total = 32; // 2 MiB: four windows
    for (let i = 0; i < total; i++) await log(job, chunk);

    const closed = await slow.closed;
    expect(closed.code).toBe(4008);
    expect(closed.reason).toMatch(/reconnect with \?since=/);
    // It was paused at its window: about one window (plus the frame that filled it) reached it.
    expect(received(slow)).toBeLessThan(DEFAULT_FANOUT.windowBytes + 2 * DEFAULT_FANOUT.frameBytes * (4 / 3));
    await fast.until("every chunk at the fast viewer", () => fast.events.filter((e) => e.kind === "log").length === total, 10_000);
    expect(logText(fast.events)).toBe(chunk.repeat(total));
    expect(fast.isClosed()).toBe(false);

    // The dropped viewer comes back where it was and misses nothing.
    const last = slow.frames[slow.frames.length - 1]!.seq;
    const back = await openLive(`/api/v1/runs/${run.id}/live?job=test&since=${last}`);
    await back.until("the rest", () => slow.events.filter((e) => e.kind === "log").length + back.events.filter((e) => e.kind === "log").length === total);
    expect(logText([...slow.events, ...back.events])).toBe(chunk.repeat(total));
  });

  it("a viewer that acknowledges late but within the stall time is paused, not dropped", async () => {
    const { run, job } = await runningJob("late-acker");
    const viewer = await openLive(`/api/v1/runs/${run.id}/live?job=test`, { autoAck: false });
    const chunk = "q".repeat(64 * 1024 - 1) + "\n";
    for (let i = 0; i < 16; i++) await log(job, chunk);
    // Paused at its window (1 MiB sent, 512 KiB window) until it acknowledges.
    await new Promise((r) => setTimeout(r, 200));
    expect(viewer.events.filter((e) => e.kind === "log").length).toBeLessThan(16);
    for (let round = 0; round < 10 && viewer.events.filter((e) => e.kind === "log").length < 16; round++) {
      await new Promise((r) => setTimeout(r, 300));
      viewer.ack();
    }
    expect(viewer.events.filter((e) => e.kind === "log").length).toBe(16);
    expect(viewer.isClosed()).toBe(false);
  });

  it("200 viewers of one run each get every chunk, in order", async () => {
    const { run, job } = await runningJob("many-viewers");
    const viewers: Viewer[] = [];
    for (let i = 0; i < 200; i++) viewers.push(await openLive(`/api/v1/runs/${run.id}/live`));
    let expected = "";
    const started = Date.now();
    for (let i = 0; i < 100; i++) {
      const line = `line ${i}: ${"w".repeat(1000)}\n`;
      expected += line;
      await log(job, line);
    }
    await viewers[0]!.until("every viewer to get every chunk", () => viewers.every((v) => v.events.filter((e) => e.kind === "log").length === 100), 20_000);
    console.log(`200 viewers × 100 chunks delivered in ${Date.now() - started} ms`);
    for (const viewer of viewers) {
      expect(logText(viewer.events)).toBe(expected);
      const seqList = viewer.events.map((e) => e.seq);
      expect(seqList).toEqual(viewer.events.map((_, i) => viewer.frames[0]!.seq + 1 + i));
    }
  }, 60_000);
});
