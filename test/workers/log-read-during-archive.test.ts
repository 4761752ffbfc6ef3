// A log read that is under way when the job's log is archived to R2 (and its chunks dropped)
// must still return every byte: the reader takes what the chunks no longer hold from R2.
import { runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent } from "./agent-client.ts";

const ONE_JOB = "jobs:\n  build:\n    runs-on: [linux]\n    steps:\n      - id: s\n        run: make\n";

it("a read in progress when the archive drops the chunks still returns the whole log", async () => {
  await projectWithPipeline("archive-race", ONE_JOB);
  const agent = await registerAgent("writer", ["linux"]);
  const run = (await api("POST", "/api/v1/projects/archive-race/pipelines/build/runs")).json;
  const assignment = (await claim(agent.token)).json;
  const j = job(assignment.token, assignment.job.attemptId);
  const chunk = (i: number) => new TextEncoder().encode(`${String(i).padStart(6, "0")} ${"x".repeat(1000)}\n`);
  const expected: number[] = [];
  let offset = 0;
  for (let i = 0; i < 200; i++) {
    const bytes = chunk(i);
    expect((await j.log(i, offset, bytes)).status).toBe(200);
    offset += bytes.byteLength;
    expected.push(...bytes);
  }
  await j.step("s", { attempt: 1, status: "RUNNING" });
  await j.step("s", { attempt: 1, status: "SUCCESS", exitCode: 0 });
  await j.finish({ status: "SUCCESS", outputs: {} });

  const response = await exports.default.fetch(`http://x/api/v1/runs/${run.id}/jobs/build/log`, { headers: { authorization: "Bearer test-admin-token" } });
  expect(response.headers.get("content-length")).toBe(String(expected.length));
  const reader = response.body!.getReader();
  const received: number[] = [];
  const first = await reader.read();
  received.push(...first.value!);
  expect(received.length).toBeLessThan(expected.length); // the read is under way

  // Meanwhile the archive runs: the chunks go to R2 and are dropped from the object.
  const stub = env.RUNS.get(env.RUNS.idFromName(run.id));
  await new Promise((r) => setTimeout(r, 5_100));
  await runDurableObjectAlarm(stub);
  expect(await env.ARTIFACTS.head(`logs/${run.id}/${assignment.job.attemptId}.log`)).not.toBeNull();

  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received.push(...value);
  }
  expect(received.length).toBe(expected.length);
  expect(Buffer.from(received).equals(Buffer.from(expected))).toBe(true);
});
