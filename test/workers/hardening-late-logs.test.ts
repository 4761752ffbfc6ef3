// Issue 13, item 5: an ended job's token may send log chunks only for a grace
// (YM_LATE_LOG_GRACE_SECONDS: 3 s in vitest.config.ts, 60 s by default), then 410; the log
// is archived to R2 once, after the grace, with the late chunks in it, and never rewritten.
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent } from "./agent-client.ts";

const GRACE_MS = 3_000;
const ONE_JOB = "jobs:\n  build:\n    runs-on: [late-logs]\n    steps:\n      - { id: compile, run: make }\n";
const text = (s: string) => new TextEncoder().encode(s);

it("takes late chunks within the grace, archives once after it, then refuses with 410", async () => {
  await projectWithPipeline("late-logs", ONE_JOB);
  const agent = await registerAgent("late", ["late-logs"]);
  const run = (await api("POST", "/api/v1/projects/late-logs/pipelines/build/runs")).json;
  const a = (await claim(agent.token)).json;
  const j = job(a.token, a.job.attemptId);
  const stub = env.RUNS.get(env.RUNS.idFromName(run.id));
  const archiveKey = `logs/${run.id}/${a.job.attemptId}.log`;

  expect((await j.log(0, 0, text("line 1\n"))).status).toBe(200);
  expect((await j.finish({ status: "SUCCESS", outputs: {} })).status).toBe(200);
  const finishedAt = Date.now();
  // In flight when the job finished: still taken, and nothing is archived yet.
  expect((await j.log(1, 7, text("line 2, late\n"))).status).toBe(200);
  await runDurableObjectAlarm(stub);
  expect(await env.ARTIFACTS.head(archiveKey)).toBeNull();

  // The grace runs out: archived once, with the late line.
  while (Date.now() < finishedAt + GRACE_MS + 200) await new Promise((r) => setTimeout(r, 250));
  await runDurableObjectAlarm(stub);
  const archived = await env.ARTIFACTS.get(archiveKey);
  expect(archived).not.toBeNull();
  expect(await archived!.text()).toBe("line 1\nline 2, late\n");

  // After the grace: refused, and the archive is left as it was.
  const refused = await j.log(2, 20, text("line 3, too late\n"));
  expect([refused.status, refused.json.error.code]).toEqual([410, "job_ended"]);
  await runDurableObjectAlarm(stub);
  expect((await env.ARTIFACTS.head(archiveKey))!.etag).toBe(archived!.etag);
  const log = await api("GET", `/api/v1/runs/${run.id}/jobs/build/log`);
  expect(log.text).toBe("line 1\nline 2, late\n");
}, 20_000);
