/**
 * What the dashboard reads from the D1 history to show trends and offer choices: a pipeline's
 * last runs with their durations, outcomes and step metrics (the pipeline page's charts), and
 * the branches a project's runs and webhook deliveries were on (the Run dialog's suggestions).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, isNotNull, max, ne } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { STATES } from "../../domain/states.ts";
import { jobAttempts, jobs, runs, stepRuns, webhookDeliveries } from "../../platform/db/schema.ts";
import { requireScope } from "../auth/principal.ts";
import { findPipeline, findProject } from "../services/projects.ts";
import { errors, json, NAME, router, security, SLUG } from "./common.ts";

export const historyRoutes = router();

const StateSchema = z.enum(STATES);

const TrendPoint = z
  .object({
    id: z.string(),
    number: z.number().int(),
    status: StateSchema,
    branch: z.string().nullable(),
    createdAt: z.string(),
    durationMs: z.number().nullable().describe("from start to end; null while it runs or if it never started"),
    metrics: z
      .array(z.object({ job: z.string(), step: z.string(), name: z.string(), value: z.number() }))
      .describe("each step's metrics, from the latest attempt of each job that reported them"),
  })
  .meta({ id: "TrendPoint" });

const MAX_TREND_RUNS = 100;

historyRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/projects/{project}/pipelines/{pipeline}/trends",
    operationId: "getPipelineTrends",
    summary: "A pipeline's last runs: duration, outcome and step metrics, oldest first",
    security,
    request: {
      params: z.object({ project: SLUG, pipeline: NAME }),
      query: z.object({ limit: z.coerce.number().int().min(1).max(MAX_TREND_RUNS).default(30).describe(`how many runs (1–${MAX_TREND_RUNS}, default 30)`) }),
    },
    responses: { 200: json(z.object({ runs: z.array(TrendPoint) }), "The runs, oldest first."), ...errors },
  }),
  async (c) => {
    const { project: slug, pipeline: name } = c.req.valid("param");
    requireScope(c.var.principal, "read", slug);
    const project = await findProject(c.env, slug);
    const { pipeline } = await findPipeline(c.env, project.id, slug, name);
    const db = drizzle(c.env.DB);
    const rows = await db
      .select()
      .from(runs)
      .where(eq(runs.pipelineId, pipeline.id))
      .orderBy(desc(runs.id))
      .limit(c.req.valid("query").limit);
    rows.reverse();
    const metrics = new Map<string, { job: string; step: string; name: string; value: number }[]>();
    if (rows.length > 0) {
      // One read per run, batched: each run's step rows with their job's key, oldest attempt
      // first, so a later attempt's value of a metric replaces an earlier one's.
      const reads = rows.map((r) =>
        db
          .select({ job: jobs.key, step: stepRuns.stepId, metrics: stepRuns.metrics })
          .from(stepRuns)
          .innerJoin(jobAttempts, eq(jobAttempts.id, stepRuns.jobAttemptId))
          .innerJoin(jobs, eq(jobs.id, jobAttempts.jobId))
          .where(eq(stepRuns.runId, r.id))
          .orderBy(jobAttempts.createdAt),
      );
      const results = await db.batch(reads as [(typeof reads)[0], ...(typeof reads)[0][]]);
      rows.forEach((r, i) => {
        const latest = new Map<string, { job: string; step: string; name: string; value: number }>();
        for (const s of results[i] ?? []) {
          for (const m of s.metrics as { name?: unknown; value?: unknown }[]) {
            if (typeof m?.name !== "string" || typeof m.value !== "number") continue;
            latest.set(`${s.job}\u0000${s.step}\u0000${m.name}`, { job: s.job, step: s.step, name: m.name, value: m.value });
          }
        }
        metrics.set(r.id, [...latest.values()]);
      });
    }
    return c.json(
      {
        runs: rows.map((r) => ({
          id: r.id,
          number: r.number,
          status: r.status as z.infer<typeof StateSchema>,
          branch: r.branch,
          createdAt: new Date(r.createdAt).toISOString(),
          durationMs: r.startedAt != null && r.endedAt != null ? r.endedAt - r.startedAt : null,
          metrics: metrics.get(r.id) ?? [],
        })),
      },
      200,
    );
  },
);

historyRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/projects/{project}/branches",
    operationId: "listProjectBranches",
    summary: "The branches the project's runs and webhook deliveries were on, most recently seen first (at most 50)",
    description:
      "A branch a webhook delivery named counts even when it started nothing (no pipeline matched it); a delivery refused for its signature does not (anyone could have sent it).",
    security,
    request: { params: z.object({ project: SLUG }) },
    responses: { 200: json(z.object({ items: z.array(z.string()) }), "The branch names."), ...errors },
  }),
  async (c) => {
    const { project: slug } = c.req.valid("param");
    requireScope(c.var.principal, "read", slug);
    const project = await findProject(c.env, slug);
    const db = drizzle(c.env.DB);
    const lastRun = max(runs.createdAt);
    const lastDelivery = max(webhookDeliveries.receivedAt);
    const [fromRuns, fromDeliveries] = await db.batch([
      db
        .select({ branch: runs.branch, last: lastRun })
        .from(runs)
        .where(and(eq(runs.projectId, project.id), isNotNull(runs.branch)))
        .groupBy(runs.branch)
        .orderBy(desc(lastRun))
        .limit(BRANCHES),
      db
        .select({ branch: webhookDeliveries.branch, last: lastDelivery })
        .from(webhookDeliveries)
        .where(and(eq(webhookDeliveries.projectId, project.id), isNotNull(webhookDeliveries.branch), ne(webhookDeliveries.status, "rejected")))
        .groupBy(webhookDeliveries.branch)
        .orderBy(desc(lastDelivery))
        .limit(BRANCHES),
    ]);
    return c.json({ items: recentBranches([...fromRuns, ...fromDeliveries]) }, 200);
  },
);

const BRANCHES = 50;

/** Each branch once, at the latest time it was seen, most recent first. */
function recentBranches(seen: { branch: string | null; last: number | null }[]): string[] {
  const latest = new Map<string, number>();
  for (const { branch, last } of seen) {
    if (!branch) continue;
    latest.set(branch, Math.max(latest.get(branch) ?? 0, last ?? 0));
  }
  return [...latest.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, BRANCHES)
    .map(([branch]) => branch);
}
