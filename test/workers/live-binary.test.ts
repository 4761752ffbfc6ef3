// Protocol 2 of the run stream (issue 20): with `?protocol=2` an events frame that carries log
// bytes is binary (the bytes raw, no base64); a client that does not ask keeps getting JSON
// text frames. Both see the same events and exactly the same bytes.
import { describe, expect, it } from "vitest";
import { concatBytes } from "../../domain/masking.ts";
import { base64ToBytes, type LiveLog, type LiveLogBytes, type RunLiveEvent } from "../../domain/live.ts";
import { api, PIPELINE, projectWithPipeline } from "./api-client.ts";
import { claim, log, openLive, registerAgent, seqs } from "./live-helpers.ts";

describe("run live stream, protocol 2", () => {
  it("sends log bytes in binary frames to a client that asks, JSON to one that does not, the same bytes to both", async () => {
    await projectWithPipeline("live-binary", PIPELINE.replaceAll("runs-on: [linux]", "runs-on: [live-binary]"));
    const run = (await api("POST", "/api/v1/projects/live-binary/pipelines/build/runs", { body: {} })).json as { id: string };
    const json = await openLive(`/api/v1/runs/${run.id}/live`);
    const binary = await openLive<RunLiveEvent | LiveLogBytes>(`/api/v1/runs/${run.id}/live?protocol=2`);
    expect(await json.until("the snapshot", () => json.frames[0])).toMatchObject({ type: "snapshot", protocol: 1 });
    expect(await binary.until("the snapshot", () => binary.frames[0])).toMatchObject({ type: "snapshot", protocol: 2 });

    const job = await claim(await registerAgent("live-binary", ["live-binary"]));
    // Invalid UTF-8, NUL, ANSI, and a chunk far bigger than one frame's other content.
    const chunks = [
      new Uint8Array([0xff, 0xfe, 0x00, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xc3, 0x28, 0x0a, 0x80]),
      new Uint8Array(200_000).map((_, i) => (i * 31) & 0xff),
      new TextEncoder().encode("last line\n"),
    ];
    for (const chunk of chunks) await log(job, chunk);
    const expected = concatBytes(chunks);

    const logsOf = <E extends { kind: string }>(events: E[]) => events.filter((e) => e.kind === "log");
    await json.until("every chunk as JSON", () => logsOf(json.events).length === chunks.length);
    await binary.until("every chunk as binary", () => logsOf(binary.events).length === chunks.length);
    expect(concatBytes(logsOf(json.events).map((e) => base64ToBytes((e as LiveLog).data)))).toEqual(expected);
    expect(concatBytes(logsOf(binary.events).map((e) => (e as LiveLogBytes).bytes))).toEqual(expected);
    // The same events, in the same order, with the same metadata.
    expect(seqs(binary.events)).toEqual(seqs(json.events));
    const meta = (e: { kind: string }) => {
      const { data: _data, bytes: _bytes, ...rest } = e as Record<string, unknown>;
      return rest;
    };
    expect(binary.events.map(meta)).toEqual(json.events.map(meta));
    expect(json.binaryFrames()).toBe(0);
    expect(binary.binaryFrames()).toBeGreaterThan(0);
  });
});
