/**
 * GET /api/v1/queue/insight: why each pending job waits — its place, a rough estimate (from the
 * median of its job's recent successful durations in D1), and the labels no online agent of its
 * queue carries. Separate from GET /api/v1/queue, whose shape the live stream shares.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { drizzle } from "drizzle-orm/d1";
import { asc } from "drizzle-orm";
import { DEFAULT_QUEUE } from "../../domain/queues.ts";
import { ESTIMATE_SAMPLES, type OnlineAgent, queueInsight } from "../../domain/queue-insight.ts";
import { agents, queues } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { dispatcherStub } from "../../platform/stubs.ts";
import { canSeeProject, requireScope } from "../auth/principal.ts";
import { ApiError } from "../http/errors.ts";
import { errors, json, QUEUE_NAME, router, security } from "./common.ts";

export const queueInsightRoutes = router();

const JobInsightView = z
  .object({
    jobAttemptId: z.string(),
    queue: z.string().describe("the queue the job waits in"),
    position: z.number().int().describe("1-based place among the queued jobs of its queue"),
    durationMs: z.number().nullable().describe(`median duration of the job's last ${ESTIMATE_SAMPLES} successful runs; null if none`),
    samples: z.number().int().describe("how many durations the median is of"),
    startsInMs: z
      .number()
      .nullable()
      .describe("rough time until it starts: the jobs ahead that the same agents could take, their median durations shared over those agents' slots; null when no online agent can take it"),
    missingLabels: z.array(z.string()).describe("labels it asks for that no online agent of its queue carries; [] when one can take it"),
    capableAgents: z.number().int().describe("online agents of its queue carrying every label it asks for"),
  })
  .meta({ id: "JobInsight" });

async function namesOf(env: Env, only: string | undefined): Promise<string[]> {
  if (only === DEFAULT_QUEUE) return [only];
  const names = (await drizzle(env.DB).select({ name: queues.name }).from(queues).orderBy(asc(queues.name))).map((r) => r.name);
  if (!names.includes(DEFAULT_QUEUE)) names.unshift(DEFAULT_QUEUE);
  if (only === undefined) return names;
  if (!names.includes(only)) throw new ApiError(404, "queue_not_found", `no queue '${only}'`);
  return [only];
}

/** The last successful durations of each `project/pipeline/job`, newest first. */
async function recentDurations(env: Env, keys: string[]): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  if (keys.length === 0) return out;
  const statement = env.DB.prepare(
    `SELECT j.ended_at - j.started_at AS ms FROM jobs j JOIN runs r ON r.id = j.run_id
     WHERE r.project = ?1 AND r.pipeline = ?2 AND j.key = ?3 AND j.status IN ('SUCCESS', 'WARNING')
       AND j.started_at IS NOT NULL AND j.ended_at IS NOT NULL
     ORDER BY j.ended_at DESC LIMIT ${ESTIMATE_SAMPLES}`,
  );
  const results = await env.DB.batch<{ ms: number }>(keys.map((k) => statement.bind(...k.split("/"))));
  keys.forEach((k, i) => out.set(k, (results[i]?.results ?? []).map((r) => r.ms)));
  return out;
}

queueInsightRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/queue/insight",
    operationId: "getQueueInsight",
    summary: "Why each pending job waits: its place, an estimate, the labels no online agent carries",
    security,
    request: { query: z.object({ queue: QUEUE_NAME.optional().describe("only this queue; omitted = every queue") }) },
    responses: { 200: json(z.object({ items: z.array(JobInsightView) }), "One entry per visible pending job, in claim order per queue."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    const names = await namesOf(c.env, c.req.valid("query").queue);
    const stubs = names.map((name) => dispatcherStub(c.env, name));
    const [views, agentLists, slotRows] = await Promise.all([
      Promise.all(stubs.map((d) => d.view())),
      Promise.all(stubs.map((d) => d.listAgents())),
      drizzle(c.env.DB).select({ id: agents.id, concurrency: agents.concurrency }).from(agents),
    ]);
    const slots = new Map(slotRows.map((r) => [r.id, r.concurrency]));
    const online: OnlineAgent[] = agentLists
      .flat()
      .filter((a) => a.state === "idle" || a.state === "busy")
      .map((a) => ({ queue: a.queue, labels: a.labels, slots: slots.get(a.id) ?? 1 }));
    // Every queued job counts for places and estimates (another project's job still goes
    // first); only the caller's projects' jobs are answered.
    const queued = views.flatMap((v) => v.pending).filter((e) => e.state === "queued");
    const pending = queued.map((e) => ({
      jobAttemptId: e.jobAttemptId,
      queue: e.queue,
      durationKey: `${e.project}/${e.pipeline}/${e.jobKey}`,
      labels: e.labels,
    }));
    const durations = await recentDurations(c.env, [...new Set(pending.map((p) => p.durationKey))]);
    const visible = new Set(queued.filter((e) => canSeeProject(c.var.principal, e.project)).map((e) => e.jobAttemptId));
    const items = queueInsight(pending, online, durations).filter((i) => visible.has(i.jobAttemptId));
    return c.json({ items }, 200);
  },
);
