/**
 * The R2 log archive is appended in parts (issue 20): a running job's log is archived once
 * ARCHIVE_PART_BYTES are held, and what comes after is appended as the next part when the job
 * has ended — the first part is never rewritten. Reading the log, whole or across the parts'
 * boundary, returns exactly the bytes the agent sent.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ARCHIVE_PART_BYTES } from "../../durable-objects/run-object/log-archive.ts";
import { job } from "./agent-client.ts";
import { ADMIN, api, projectWithPipeline } from "./api-client.ts";
import { concatBytes } from "../../domain/masking.ts";
import { base64ToBytes, type LiveLog, type RunLiveEvent } from "../../domain/live.ts";
import { openLive, seqs, waitUntil } from "./live-helpers.ts";
import { agentWith, claimNext } from "./run-helpers.ts";

const MiB = 1024 * 1024;
const stub = (runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));

/** The log bytes a live viewer received, in order (JSON frames carry them as base64). */
function liveBytes(events: RunLiveEvent[]): Uint8Array {
  return concatBytes(events.filter((e): e is LiveLog => e.kind === "log").map((e) => base64ToBytes(e.data)));
}

async function readLog(runId: string, range?: string) {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN}`, ...(range ? { range } : {}) };
  const res = await exports.default.fetch(`http://yardmaster.test/api/v1/runs/${runId}/jobs/only/log`, { headers });
  return { status: res.status, bytes: new Uint8Array(await res.arrayBuffer()) };
}

describe("log archive in parts", () => {
  it("archives a long log while it runs, appends the rest as a second part, and reads back the exact bytes", async () => {
    await projectWithPipeline("log-parts", `name: build\njobs:\n  only:\n    runs-on: [log-parts]\n    steps:\n      - run: make\n`);
    const agent = await agentWith("log-parts");
    const runId = (await api("POST", "/api/v1/projects/log-parts/pipelines/build/runs", { body: {} })).json.id as string;
    const claimed = await claimNext(agent.token);
    const j = job(claimed.token, claimed.job.attemptId);
    const key = `logs/${runId}/${claimed.job.attemptId}.log`;

    const chunkBytes = MiB;
    const chunks: Uint8Array<ArrayBuffer>[] = Array.from({ length: ARCHIVE_PART_BYTES / chunkBytes + 1 }, (_, c) =>
      new Uint8Array(chunkBytes).map((_, i) => (i * 13 + c * 101 + (i >> 10)) & 0xff),
    );
    chunks.push(new Uint8Array(new TextEncoder().encode("the end\n")));
    let offset = 0;
    for (const [seq, chunk] of chunks.slice(0, ARCHIVE_PART_BYTES / chunkBytes).entries()) {
      expect((await j.log(seq, offset, chunk)).status).toBe(200);
      offset += chunk.byteLength;
    }
    // The held bytes reached a part: the alarm archives them while the job still runs.
    await runDurableObjectAlarm(stub(runId));
    const first = await waitUntil("the first part", () => env.ARTIFACTS.head(key));
    expect(first.size).toBe(ARCHIVE_PART_BYTES);

    for (const [i, chunk] of chunks.slice(ARCHIVE_PART_BYTES / chunkBytes).entries()) {
      expect((await j.log(ARCHIVE_PART_BYTES / chunkBytes + i, offset, chunk)).status).toBe(200);
      offset += chunk.byteLength;
    }
    expect((await j.finish({ status: "SUCCESS" })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3_100)); // the late-chunk grace (3 s in tests)
    await runDurableObjectAlarm(stub(runId));
    const second = await waitUntil("the second part", () => env.ARTIFACTS.head(`${key}.1`));
    expect(second.size).toBe(offset - ARCHIVE_PART_BYTES);
    // The first part was not written again.
    expect((await env.ARTIFACTS.head(key))!.etag).toBe(first.etag);
    expect((await env.ARTIFACTS.list({ prefix: `logs/${runId}/` })).objects.map((o) => o.key).sort()).toEqual([key, `${key}.1`]);
    // Nothing is held in the object any more.
    const held = await runInDurableObject(stub(runId), (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM log_chunks").one().n);
    expect(held).toBe(0);

    const expected = new Uint8Array(offset);
    let at = 0;
    for (const chunk of chunks) {
      expected.set(chunk, at);
      at += chunk.byteLength;
    }
    const whole = await readLog(runId);
    expect(whole.status).toBe(200);
    expect(whole.bytes.byteLength).toBe(expected.byteLength);
    expect(whole.bytes).toEqual(expected);
    const across = await readLog(runId, `bytes=${ARCHIVE_PART_BYTES - 1000}-${ARCHIVE_PART_BYTES + 999}`);
    expect(across.status).toBe(206);
    expect(across.bytes).toEqual(expected.subarray(ARCHIVE_PART_BYTES - 1000, ARCHIVE_PART_BYTES + 1000));

    // Viewers resuming from the start read the log from the parts (kept in memory between them
    // once read): each gets exactly the bytes, in order, across the boundary — the second while
    // the first is part-way through, so they are at different places.
    const early = await openLive(`/api/v1/runs/${runId}/live?since=0`);
    await early.until("a first log event", () => early.events.some((e) => e.kind === "log"));
    const late = await openLive(`/api/v1/runs/${runId}/live?since=0`);
    for (const viewer of [early, late]) {
      await viewer.until("the whole log", () => liveBytes(viewer.events).byteLength === expected.byteLength, 20_000);
      expect(liveBytes(viewer.events)).toEqual(expected);
      expect(seqs(viewer.events)).toEqual(viewer.events.map((_, i) => i + 1));
    }
  }, 60_000);
});
