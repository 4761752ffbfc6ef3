/**
 * D1 down for a while: the RunObject keeps working, keeps what D1 missed in its own outbox
 * (dirty marks in its SQLite storage) and, once D1 is back, its alarm brings D1 to exactly the
 * run's state — nothing lost. The outage is real: the projection's tables are renamed away in
 * the real D1, so every projection batch fails ("no such table") until they are renamed back.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { agentWith, claimNext, getRun, labelledPipeline, runClaimed } from "./run-helpers.ts";

const stub = (runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));
const ms = (iso: string | null) => (iso === null ? null : Date.parse(iso));

async function outbox(runId: string) {
  return runInDurableObject(stub(runId), (_instance, state) => {
    const dirty = state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM d1_dirty").one().n;
    const status = state.storage.sql.exec<{ failures: number; last_error: string | null }>("SELECT failures, last_error FROM outbox_status WHERE name = 'd1'").toArray()[0];
    return { dirty, failures: status?.failures ?? 0, lastError: status?.last_error ?? null };
  });
}

const rows = async <T>(sql: string, ...bind: unknown[]) => (await env.DB.prepare(sql).bind(...bind).all<T>()).results;

/** D1's rows for a run, in the shape of the run as its RunObject tells it. */
async function d1View(runId: string) {
  const [run] = await rows<any>("SELECT * FROM runs WHERE id = ?", runId);
  const attempts = await rows<any>("SELECT * FROM run_attempts WHERE run_id = ? ORDER BY number", runId);
  const jobs = await rows<any>("SELECT * FROM jobs WHERE run_id = ?", runId);
  const jobAttempts = await rows<any>("SELECT * FROM job_attempts WHERE run_id = ?", runId);
  const steps = await rows<any>("SELECT * FROM step_runs WHERE run_id = ?", runId);
  return { run, attempts, jobs, jobAttempts, steps };
}

/** What D1 must hold for a run, derived from the RunObject's own view of it. */
function expectedFrom(view: any) {
  const jobs = view.attempts.flatMap((a: any) => a.jobs.map((j: any) => ({ ...j, runAttemptId: a.id })));
  const jobAttempts = jobs.flatMap((j: any) => j.attempts.map((ja: any) => ({ ...ja, jobId: j.id })));
  return {
    run: { id: view.id, number: view.number, status: view.status, attempt: view.attempt, branch: view.branch, started_at: ms(view.startedAt), ended_at: ms(view.endedAt) },
    attempts: view.attempts.map((a: any) => ({ id: a.id, number: a.number, status: a.status, started_at: ms(a.startedAt), ended_at: ms(a.endedAt) })),
    jobs: jobs.map((j: any) => ({ id: j.id, run_attempt_id: j.runAttemptId, key: j.key, status: j.status, outputs: JSON.stringify(j.outputs) })),
    jobAttempts: jobAttempts.map((ja: any) => ({ id: ja.id, job_id: ja.jobId, number: ja.number, status: ja.status, reason: ja.reason, agent_id: ja.agentId })),
    // Step rows are written once, when their job attempt has ended.
    steps: jobAttempts.filter((ja: any) => ja.endedAt !== null).flatMap((ja: any) =>
      ja.steps.map((s: any) => ({ id: `${ja.id}/${s.id}`, status: s.status, exit_code: s.exitCode, outputs: JSON.stringify(s.outputs), attempts: s.attempts.length })),
    ),
  };
}

function pick<T extends Record<string, unknown>>(row: T | undefined, like: Record<string, unknown>) {
  return row && Object.fromEntries(Object.keys(like).map((k) => [k, row[k]]));
}
const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);

/** D1 holds exactly the run's state: every row, no row more. */
function expectSame(d1: Awaited<ReturnType<typeof d1View>>, view: any) {
  const expected = expectedFrom(view);
  expect(pick(d1.run, expected.run)).toEqual(expected.run);
  for (const key of ["attempts", "jobs", "jobAttempts", "steps"] as const) {
    const want = (expected[key] as any[]).slice().sort(byId);
    const got = (d1[key] as any[]).slice().sort(byId).map((row, i) => pick(row, want[i] ?? {}));
    expect(got, key).toEqual(want);
  }
}

describe("D1 outage: the outbox catches up with nothing lost", () => {
  it("runs keep going while D1 fails, D1 stays stale, and the alarm brings it up to date once D1 is back", async () => {
    await projectWithPipeline("outage", labelledPipeline("outage"));
    const agent = await agentWith("outage");
    const runId = (await api("POST", "/api/v1/projects/outage/pipelines/build/runs", { body: { branch: "main" } })).json.id;
    // Healthy: D1 lists the new run at once; its attempt and jobs follow in the coalesced batch.
    expect(pick((await d1View(runId)).run, { status: 0 })).toEqual({ status: "CREATED" });
    expect(await runDurableObjectAlarm(stub(runId))).toBe(true);
    expectSame(await d1View(runId), await getRun(runId));

    // D1 fails: the projection's tables are gone.
    await env.DB.exec("ALTER TABLE jobs RENAME TO jobs_away");
    await env.DB.exec("ALTER TABLE step_runs RENAME TO step_runs_away");
    let secondId = "";
    try {
      // Several state changes meanwhile: jobs run, one fails, the run ends and is re-run; a new run starts.
      for (let i = 0; i < 2; i++) {
        const claimed = await claimNext(agent.token);
        await runClaimed(claimed, "SUCCESS", claimed.job.key === "build" ? { version: "2.0" } : {});
      }
      await runClaimed(await claimNext(agent.token), "FAILED");
      expect((await getRun(runId)).status).toBe("FAILED");
      const rerun = await api("POST", `/api/v1/runs/${runId}/rerun`, { body: { failedOnly: true } });
      expect(rerun.status).toBe(201);
      await runClaimed(await claimNext(agent.token), "SUCCESS");
      const second = (await api("POST", "/api/v1/projects/outage/pipelines/build/runs", { body: { branch: "dev" } })).json;
      expect(second.number).toBe(2);
      secondId = second.id;

      // The API still answers from the RunObjects; D1 is stale and the outbox holds what it missed.
      const live = await getRun(runId);
      expect(live).toMatchObject({ status: "RUNNING", attempt: 2 });
      const [stale] = await rows<any>("SELECT status, attempt FROM runs WHERE id = ?", runId);
      expect(stale).toEqual({ status: "CREATED", attempt: 1 });
      // A new run's own row needs only the runs table, written alone at its creation: it is listed.
      expect(await rows("SELECT status FROM runs WHERE id = ?", second.id)).toEqual([{ status: "CREATED" }]);
      expect((await api("GET", "/api/v1/runs?project=outage")).json.items.map((r: any) => r.number)).toEqual([2, 1]);
      expect((await outbox(second.id)).dirty).toBeGreaterThan(0); // its attempt and job rows wait
      const pending = await outbox(runId);
      expect(pending.dirty).toBeGreaterThan(0);
      expect(pending.failures).toBeGreaterThan(0);
      expect(pending.lastError).toMatch(/no such table/);
    } finally {
      // D1 is back.
      await env.DB.exec("ALTER TABLE jobs_away RENAME TO jobs");
      await env.DB.exec("ALTER TABLE step_runs_away RENAME TO step_runs");
    }
    // Nothing catches up by itself between the commands: D1 is still stale until the retry runs.
    expect((await rows<any>("SELECT status FROM runs WHERE id = ?", runId))[0]).toEqual({ status: "CREATED" });

    // The retry alarm flushes each run's outbox.
    const ids = [runId, secondId];
    for (const id of ids) expect(await runDurableObjectAlarm(stub(id))).toBe(true);

    for (const id of ids) {
      expectSame(await d1View(id), await getRun(id));
      expect(await outbox(id)).toEqual({ dirty: 0, failures: 0, lastError: null });
    }
    const listed = (await api("GET", "/api/v1/runs?project=outage")).json.items;
    expect(listed.map((r: any) => [r.number, r.status, r.attempt])).toEqual([
      [2, "CREATED", 1],
      [1, "RUNNING", 2],
    ]);
  });
});
