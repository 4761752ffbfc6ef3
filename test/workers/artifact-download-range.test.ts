/**
 * Artifact downloads stream straight from R2 and serve byte ranges (issue 20): `Range: bytes=N-M`
 * and `bytes=N-` answer 206 with exactly those bytes and `content-range`; a range that starts at
 * or past the end answers 416 with `content-range: bytes *\/size`; another form is ignored.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../domain/tokens.ts";
import { job } from "./agent-client.ts";
import { ADMIN, api, projectWithPipeline } from "./api-client.ts";
import { agentWith, claimNext } from "./run-helpers.ts";

async function uploaded(bytes: Uint8Array<ArrayBuffer>) {
  await projectWithPipeline("ranges", `name: build\njobs:\n  only:\n    runs-on: [ranges]\n    steps:\n      - run: make\n`);
  const agent = await agentWith("ranges");
  expect((await api("POST", "/api/v1/projects/ranges/pipelines/build/runs", { body: {} })).status).toBe(201);
  const claimed = await claimNext(agent.token);
  const put = await job(claimed.token, claimed.job.attemptId).artifact("out/data.bin", bytes, await sha256Hex(bytes));
  expect(put.status, put.text).toBe(201);
  return put.json.id as string;
}

describe("artifact downloads with ranges", () => {
  it("answers 200 whole, 206 for a range, 416 past the end, and ignores forms it does not serve", async () => {
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7 + (i >> 8)) & 0xff);
    const id = await uploaded(bytes);
    const download = async (range?: string) => {
      const headers: Record<string, string> = { authorization: `Bearer ${ADMIN}`, ...(range ? { range } : {}) };
      const res = await exports.default.fetch(`http://yardmaster.test/api/v1/artifacts/${id}/download`, { headers });
      const bytes = new Uint8Array(await res.arrayBuffer());
      return { status: res.status, headers: res.headers, bytes, json: res.status === 416 ? JSON.parse(new TextDecoder().decode(bytes)) : null };
    };
    const body = (res: { bytes: Uint8Array }) => res.bytes;

    const whole = await download();
    expect(whole.status).toBe(200);
    expect(whole.headers.get("accept-ranges")).toBe("bytes");
    expect(body(whole)).toEqual(bytes);

    const middle = await download("bytes=1000-70999");
    expect(middle.status).toBe(206);
    expect(middle.headers.get("content-range")).toBe("bytes 1000-70999/300000");
    expect(middle.headers.get("content-length")).toBe("70000");
    expect(body(middle)).toEqual(bytes.subarray(1000, 71000));

    const tail = await download("bytes=299990-");
    expect(tail.status).toBe(206);
    expect(tail.headers.get("content-range")).toBe("bytes 299990-299999/300000");
    expect(body(tail)).toEqual(bytes.subarray(299990));

    const pastEnd = await download("bytes=299000-400000"); // cut at the end
    expect(pastEnd.status).toBe(206);
    expect(pastEnd.headers.get("content-range")).toBe("bytes 299000-299999/300000");
    expect(body(pastEnd)).toEqual(bytes.subarray(299000));

    const beyond = await download("bytes=300000-");
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get("content-range")).toBe("bytes */300000");
    expect(beyond.json.error.code).toBe("range_not_satisfiable");

    for (const ignored of ["items=0-10", "bytes=-100", "bytes=5-1", "bytes=0-1,5-9"]) {
      const res = await download(ignored);
      expect(res.status, ignored).toBe(200);
      expect(body(res).byteLength, ignored).toBe(bytes.byteLength);
    }
  });
});
