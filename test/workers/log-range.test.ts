// A reader that lost its place (a dropped connection, a follower falling back to REST) asks for
// the rest of a log with `Range: bytes=N-` instead of downloading it again from byte 0: the
// answer is exactly those bytes, whether the log is still held by the run or archived in R2.
import { runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent } from "./agent-client.ts";

const ONE_JOB = "jobs:\n  build:\n    runs-on: [linux]\n    steps:\n      - id: s\n        run: make\n";

let runId = "";
let attemptId = "";
let expected = new Uint8Array();

const read = (range?: string) =>
  exports.default.fetch(`http://x/api/v1/runs/${runId}/jobs/build/log`, {
    headers: { authorization: "Bearer test-admin-token", ...(range === undefined ? {} : { range }) },
  });

async function expectRange(range: string, from: number, to: number) {
  const response = await read(range);
  expect(response.status).toBe(206);
  expect(response.headers.get("content-range")).toBe(`bytes ${from}-${to - 1}/${expected.length}`);
  expect(response.headers.get("content-length")).toBe(String(to - from));
  expect(Buffer.from(await response.arrayBuffer()).equals(Buffer.from(expected.subarray(from, to)))).toBe(true);
}

beforeAll(async () => {
  await projectWithPipeline("log-range", ONE_JOB);
  const agent = await registerAgent("ranger", ["linux"]);
  runId = (await api("POST", "/api/v1/projects/log-range/pipelines/build/runs")).json.id;
  const assignment = (await claim(agent.token)).json;
  attemptId = assignment.job.attemptId;
  const j = job(assignment.token, attemptId);
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (let i = 0; i < 50; i++) {
    // Lines of different lengths with colours and a byte that is not UTF-8.
    const bytes = new Uint8Array([...new TextEncoder().encode(`\x1b[3${i % 8}m${i}\x1b[0m ${"é".repeat(i)}`), 0xff, 0x0a]);
    expect((await j.log(i, offset, bytes)).status).toBe(200);
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  expected = new Uint8Array(Buffer.concat(parts));
  await j.step("s", { attempt: 1, status: "RUNNING" });
  await j.step("s", { attempt: 1, status: "SUCCESS", exitCode: 0 });
  await j.finish({ status: "SUCCESS", outputs: {} });
});

describe("a log read by byte range", () => {
  it("without a Range header: the whole log, saying ranges are accepted", async () => {
    const response = await read();
    expect(response.status).toBe(200);
    expect(response.headers.get("accept-ranges")).toBe("bytes");
    expect(Buffer.from(await response.arrayBuffer()).equals(Buffer.from(expected))).toBe(true);
  });

  it("from a byte to the end, or between two bytes (the last one included), from the run's own storage", async () => {
    await expectRange("bytes=1000-", 1000, expected.length);
    await expectRange("bytes=10-19", 10, 20);
    await expectRange(`bytes=0-${expected.length + 500}`, 0, expected.length); // cut at the end
    await expectRange(`bytes=${expected.length - 1}-`, expected.length - 1, expected.length);
  });

  it("at or past the end so far: 416, saying how long the log is", async () => {
    const response = await read(`bytes=${expected.length}-`);
    expect(response.status).toBe(416);
    expect((await response.json() as any).error).toMatchObject({ code: "range_not_satisfiable", message: expect.stringContaining(`${expected.length} bytes`) });
  });

  it("a Range it does not serve (other units, several ranges, backwards, a suffix) is ignored: the whole log", async () => {
    for (const range of ["items=0-5", "bytes=0-5,10-15", "bytes=9-3", "bytes=-100", "bytes=abc-"]) {
      const response = await read(range);
      expect(response.status, range).toBe(200);
      expect((await response.arrayBuffer()).byteLength, range).toBe(expected.length);
    }
  });

  it("the same bytes once the log is archived to R2", async () => {
    await new Promise((r) => setTimeout(r, 5_100));
    await runDurableObjectAlarm(env.RUNS.get(env.RUNS.idFromName(runId)));
    expect(await env.ARTIFACTS.head(`logs/${runId}/${attemptId}.log`)).not.toBeNull();
    await expectRange("bytes=1000-", 1000, expected.length);
    await expectRange("bytes=10-19", 10, 20);
  }, 15_000);
});
