// Issue 13, item 7: outputs are bounded on the server, in UTF-8 bytes — names, values, count,
// each step's and job's total and a job attempt's steps together — and the agent API's JSON
// bodies have a size limit. Each refusal names the limit; nothing past it is stored.
import { describe, expect, it } from "vitest";
import { OUTPUT_LIMITS } from "../../domain/protocol.ts";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent } from "./agent-client.ts";

const THREE_STEPS = `jobs:
  build:
    runs-on: [outputs]
    steps:
      - { id: one, run: a }
      - { id: two, run: b }
      - { id: three, run: c }
`;

async function runningJob(slug: string) {
  await projectWithPipeline(slug, THREE_STEPS);
  const agent = await registerAgent(`${slug}-agent`, ["outputs"]);
  const run = (await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`)).json;
  const assignment = (await claim(agent.token)).json;
  return { run, j: job(assignment.token, assignment.job.attemptId), token: assignment.token as string, attemptId: assignment.job.attemptId as string };
}

const stepOutputs = async (runId: string) =>
  (await api("GET", `/api/v1/runs/${runId}`)).json.attempts[0].jobs[0].attempts[0].steps.map((s: { outputs: object }) => s.outputs);

describe("outputs are bounded in bytes on the server", () => {
  it("refuses a value past the limit in UTF-8 bytes, though short in UTF-16 units", async () => {
    const { run, j } = await runningJob("out-bytes");
    await j.step("one", { attempt: 1, status: "RUNNING" });
    // 600,000 × "é": 600,000 UTF-16 units (under the old count), 1,200,000 bytes.
    const answer = await j.step("one", { attempt: 1, status: "SUCCESS", exitCode: 0, outputs: { v: "é".repeat(600_000) } });
    expect(answer.status).toBe(400);
    expect(answer.text).toContain(`${OUTPUT_LIMITS.valueBytes} bytes`);
    expect(await stepOutputs(run.id)).toEqual([{}, {}, {}]);
  });

  it("refuses too many outputs, and too long a name", async () => {
    const { j } = await runningJob("out-count");
    await j.step("one", { attempt: 1, status: "RUNNING" });
    const many = Object.fromEntries(Array.from({ length: OUTPUT_LIMITS.keys + 1 }, (_, i) => [`k${i}`, "v"]));
    const tooMany = await j.step("one", { attempt: 1, status: "SUCCESS", exitCode: 0, outputs: many });
    expect(tooMany.status).toBe(400);
    expect(tooMany.text).toContain(`at most ${OUTPUT_LIMITS.keys} outputs`);
    const longName = await j.step("one", { attempt: 1, status: "SUCCESS", exitCode: 0, outputs: { ["ñ".repeat(150)]: "v" } });
    expect(longName.status).toBe(400);
    expect(longName.text).toContain(`${OUTPUT_LIMITS.keyBytes} bytes`);
    const finish = await j.finish({ status: "SUCCESS", outputs: many });
    expect(finish.status).toBe(400);
  });

  it("refuses (413) a job attempt's steps whose outputs together pass the limit", async () => {
    const { run, j } = await runningJob("out-together");
    const half = "x".repeat(OUTPUT_LIMITS.jobAttemptBytes / 2 - 100);
    for (const step of ["one", "two"]) {
      await j.step(step, { attempt: 1, status: "RUNNING" });
      expect((await j.step(step, { attempt: 1, status: "SUCCESS", exitCode: 0, outputs: { v: half } })).status).toBe(200);
    }
    await j.step("three", { attempt: 1, status: "RUNNING" });
    const third = await j.step("three", { attempt: 1, status: "SUCCESS", exitCode: 0, outputs: { v: "x".repeat(1000) } });
    expect(third.status).toBe(413);
    expect(third.json.error.code).toBe("outputs_too_large");
    expect(third.json.error.message).toContain(String(OUTPUT_LIMITS.jobAttemptBytes));
    expect((await stepOutputs(run.id))[2]).toEqual({});
  });

  it("limits the agent API's JSON bodies, and not its byte routes", async () => {
    const { j, token, attemptId } = await runningJob("out-body");
    // Valid JSON the schema accepts, padded with 5 MiB of whitespace.
    const padded = `{"status":"SUCCESS","outputs":{}${" ".repeat(5 * 1024 * 1024)}}`;
    const answer = await api("POST", `/api/agent/v1/jobs/${attemptId}/finish`, { token, raw: padded, headers: { "content-type": "application/json" } });
    expect(answer.status).toBe(413);
    expect(answer.json.error.code).toBe("body_too_large");
    // A log chunk is a byte route with its own limit (1 MiB): not this one's.
    expect((await j.log(0, 0, new Uint8Array(64 * 1024).fill(0x61))).status).toBe(200);
    expect((await j.finish({ status: "SUCCESS", outputs: {} })).status).toBe(200);
  });
});
