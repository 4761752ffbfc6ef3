// A run's live stream across restarts: the RunObject is evicted (its sockets hibernate, or are
// closed), and logs move to R2 — every viewer still gets every event once, in order, rebuilt
// from storage.
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { LiveLog, LiveTransition } from "../../domain/live.ts";
import type { RunObject } from "../../durable-objects/run-object/index.ts";
import { api, PIPELINE, projectWithPipeline } from "./api-client.ts";
import { claim, finish, log, logText, openLive, registerAgent, runSteps, seqs, step } from "./live-helpers.ts";

async function newRun(slug: string) {
  await projectWithPipeline(slug, PIPELINE.replaceAll("runs-on: [linux]", `runs-on: [${slug}]`));
  const run = (await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`)).json as { id: string };
  return { run, stub: env.RUNS.get(env.RUNS.idFromName(run.id)) };
}

const isJobEnd = (e: { kind: string }) => e.kind === "transition" && (e as LiveTransition).entity === "job_attempt" && (e as LiveTransition).to === "SUCCESS";

describe("live stream across restarts", () => {
  it("a hibernated socket keeps receiving after the object is evicted, without gap or duplicate", async () => {
    const { run, stub } = await newRun("evict-hibernate");
    const viewer = await openLive(`/api/v1/runs/${run.id}/live`);
    const job = await claim(await registerAgent("evict-hibernate", ["evict-hibernate"]));
    await step(job, "install", "RUNNING");
    await log(job, "before eviction\n");
    await viewer.until("the first chunk", () => viewer.events.some((e) => e.kind === "log"));

    await evictDurableObject(stub);
    expect(viewer.isClosed()).toBe(false);

    await log(job, "after eviction\n");
    await step(job, "install", "SUCCESS", { exitCode: 0 });
    await finish(job, "SUCCESS");
    await viewer.until("the job's end", () => viewer.events.some(isJobEnd));
    const snapshotSeq = viewer.frames[0]!.seq;
    expect(seqs(viewer.events)).toEqual(viewer.events.map((_, i) => snapshotSeq + 1 + i));
    expect(logText(viewer.events)).toBe("before eviction\nafter eviction\n");
  });

  it("after an eviction that closes sockets, a reconnect with since resumes exactly", async () => {
    const { run, stub } = await newRun("evict-close");
    const viewer = await openLive(`/api/v1/runs/${run.id}/live`);
    const job = await claim(await registerAgent("evict-close", ["evict-close"]));
    await step(job, "install", "RUNNING");
    await log(job, "one\n");
    await viewer.until("the chunk", () => viewer.events.some((e) => e.kind === "log"));

    await evictDurableObject(stub, { webSockets: "close" });
    const closed = await viewer.closed;
    // Whatever the runtime's code, it is not a final one: the client reconnects with since.
    expect([1000, 4400]).not.toContain(closed.code);
    const last = viewer.frames[viewer.frames.length - 1]!.seq;

    await log(job, "two\n"); // while nobody watches
    const resumed = await openLive(`/api/v1/runs/${run.id}/live?since=${last}`);
    await log(job, "three\n");
    await runSteps(job);
    await finish(job);
    await resumed.until("the job's end", () => resumed.events.some(isJobEnd));
    expect(seqs(resumed.events)).toEqual(resumed.events.map((_, i) => last + 1 + i));
    expect(logText([...viewer.events, ...resumed.events])).toBe("one\ntwo\nthree\n");
  });

  it("serves a resume from the R2 archive once the job's chunks are gone", async () => {
    const { run, stub } = await newRun("evict-archive");
    const job = await claim(await registerAgent("evict-archive", ["evict-archive"]));
    await step(job, "install", "RUNNING");
    const lines: string[] = [];
    for (let i = 0; i < 40; i++) {
      const chunk = `chunk ${i}: ${"y".repeat(4000)}\n`;
      lines.push(chunk);
      await log(job, chunk);
    }
    await step(job, "install", "SUCCESS", { exitCode: 0 });
    await finish(job, "FAILED");

    // Archive now rather than after the grace period, then make sure the chunks are gone.
    await runInDurableObject(stub, async (instance: RunObject) => {
      await instance.logs.archiveDue(run.id, Date.now() + 60_000);
    });
    await evictDurableObject(stub);
    const held = await runInDurableObject(stub, (_i, state) => state.storage.sql.exec("SELECT count(*) AS n FROM log_chunks").one().n);
    expect(held).toBe(0);

    const viewer = await openLive(`/api/v1/runs/${run.id}/live?since=0`);
    await viewer.until("the job's end", () => viewer.events.some((e) => e.kind === "transition" && (e as LiveTransition).entity === "job_attempt" && (e as LiveTransition).to === "FAILED"));
    expect(logText(viewer.events)).toBe(lines.join(""));
    expect(seqs(viewer.events)).toEqual(viewer.events.map((_, i) => i + 1));
    // Several frames: the 160 KB log was paged, not sent whole.
    expect(viewer.frames.filter((f) => f.type === "events").length).toBeGreaterThan(1);
    const offsets = viewer.events.filter((e): e is LiveLog => e.kind === "log").map((e) => e.offset);
    expect(offsets).toEqual(lines.map((_, i) => lines.slice(0, i).reduce((n, l) => n + l.length, 0)));
  });
});
