/** Triggering, listing, reading, cancelling and re-running runs, and reading job logs. */
import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, inArray, lt, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Context, TypedResponse } from "hono";
import { ErrorBody, listOf, RunSummaryView, RunView } from "../../domain/views.ts";
import { STATES } from "../../domain/states.ts";
import { canSeeProject, projectFilter, requireScope } from "../auth/principal.ts";
import { runs } from "../../platform/db/schema.ts";
import { ApiError, unwrap } from "../http/errors.ts";
import { byteRange } from "../http/byte-range.ts";
import { runStub } from "../../platform/stubs.ts";
import { auditContext, runActions } from "../services/audit.ts";
import type { AppEnv } from "../auth/authenticate.ts";
import { awaitingApproval } from "../services/awaiting-approval.ts";
import { triggerRun } from "../services/trigger-run.ts";
import { errors, ID, json, NAME, router, security, SLUG } from "./common.ts";
import { isoTime } from "../../domain/time.ts";

export const runRoutes = router();

const ParamValue = z.union([z.string().max(10_000), z.number(), z.boolean()]).transform(String);
const TriggerBody = z.object({
  branch: z.string().min(1).max(255).optional(),
  commit: z.string().regex(/^[0-9A-Za-z._/-]{1,255}$/, "commit is a SHA or ref").optional(),
  params: z.record(NAME, ParamValue).optional(),
});

runRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/projects/{project}/pipelines/{pipeline}/runs",
    operationId: "triggerRun",
    summary: "Trigger a run of a pipeline's current version",
    security,
    request: {
      params: z.object({ project: SLUG, pipeline: NAME }),
      body: { required: false, content: { "application/json": { schema: TriggerBody } } },
    },
    responses: { 201: json(RunView, "The new run."), ...errors },
  }),
  async (c) => {
    const { project, pipeline } = c.req.valid("param");
    requireScope(c.var.principal, "run", project);
    const body = c.req.valid("json") ?? {};
    const run = await triggerRun(c.env, {
      project,
      pipeline,
      branch: body.branch ?? null,
      commit: body.commit ?? null,
      params: body.params ?? {},
      // A person in the dashboard (session cookie) triggers by hand; a bearer token is the API.
      trigger: c.var.principal.via === "bearer" ? "api" : "manual",
      by: auditContext(c),
      origin: new URL(c.req.url).origin,
    });
    return c.json(run, 201);
  },
);

const ListQuery = z.object({
  project: SLUG.optional(),
  pipeline: NAME.optional(),
  status: z
    .string()
    .optional()
    .refine((s) => !s || s.split(",").every((x) => (STATES as readonly string[]).includes(x)), {
      message: `status is a comma-separated list of ${STATES.join(", ")}`,
    }),
  branch: z.string().max(255).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: ID.optional().describe("the `cursor` of the previous page"),
});


runRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/runs",
    operationId: "listRuns",
    summary: "List runs, newest first",
    security,
    request: { query: ListQuery },
    responses: { 200: json(listOf(RunSummaryView), "A page of runs; pass `cursor` to get the next."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    const q = c.req.valid("query");
    if (q.project) requireScope(c.var.principal, "read", q.project);
    const where: SQL[] = [];
    if (q.project) where.push(eq(runs.project, q.project));
    const allowed = projectFilter(c.var.principal);
    if (allowed) where.push(inArray(runs.project, allowed.length ? allowed : [""]));
    if (q.pipeline) where.push(eq(runs.pipeline, q.pipeline));
    if (q.status) where.push(inArray(runs.status, q.status.split(",")));
    if (q.branch) where.push(eq(runs.branch, q.branch));
    if (q.cursor) where.push(lt(runs.id, q.cursor));
    // Run ids are UUIDv7: ordering by id is ordering by creation time.
    const rows = await drizzle(c.env.DB)
      .select()
      .from(runs)
      .where(where.length ? and(...where) : undefined)
      .orderBy(desc(runs.id))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    // The badge is read from the job tables, the list from the runs table alone: while the job
    // tables fail (a D1 outage the runs' outboxes ride out) the runs are still listed, unbadged.
    const waiting = await awaitingApproval(c.env.DB, page).catch((err: unknown) => {
      console.warn(`runs list: approval badges left out: ${String(err)}`);
      return new Map<string, string[]>();
    });
    const now = Date.now();
    return c.json(
      {
        items: page.map((r) => ({
          id: r.id,
          number: r.number,
          project: r.project,
          pipeline: r.pipeline,
          branch: r.branch,
          commit: r.commit,
          trigger: r.trigger as "api",
          params: r.params,
          status: r.status as (typeof STATES)[number],
          attempt: r.attempt,
          createdAt: isoTime(r.createdAt)!,
          startedAt: isoTime(r.startedAt),
          endedAt: isoTime(r.endedAt),
          durationMs: r.startedAt === null ? null : (r.endedAt ?? now) - r.startedAt,
          ...(waiting.has(r.id) && { awaitingApproval: waiting.get(r.id) }),
        })),
        cursor: rows.length > q.limit ? page[page.length - 1]!.id : null,
      },
      200,
    );
  },
);

const RunParam = z.object({ run: ID });

/** The run's RunObject and project, after checking the caller may see the run's project. */
async function accessibleRun(env: Parameters<typeof runStub>[0], runId: string, principal: Parameters<typeof canSeeProject>[0]) {
  const stub = runStub(env, runId);
  const { project } = unwrap(await stub.identity());
  if (!canSeeProject(principal, project)) throw new ApiError(404, "run_not_found", "no such run");
  return { stub, project };
}

/**
 * The run a caller acts on (cancel, re-run, approve, reject): they see its project and hold
 * `run` on it. With who acts, which the run's object records with the action (audit-outbox.ts).
 */
async function actionableRun(c: Context<AppEnv>, runId: string) {
  requireScope(c.var.principal, "read");
  const { stub, project } = await accessibleRun(c.env, runId, c.var.principal);
  requireScope(c.var.principal, "run", project);
  return { stub, by: auditContext(c) };
}

runRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/runs/{run}",
    operationId: "getRun",
    summary: "Get a run: attempts → jobs → attempts → steps",
    security,
    request: { params: RunParam },
    responses: { 200: json(RunView, "The run, read live from its RunObject."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    // The view comes serialized from the run's object, which keeps it between the run's changes
    // (durable-objects/run-object/run-reads.ts): no copy of the whole tree to cross, nothing to stringify.
    const read = unwrap(await runStub(c.env, c.req.valid("param").run).read());
    if (!canSeeProject(c.var.principal, read.project)) throw new ApiError(404, "run_not_found", "no such run");
    if (read.actions) {
      // The same answer c.json would give (its content type, the same JSON), typed as the RunView it is.
      return c.body(read.json, 200, { "content-type": "application/json" }) as unknown as TypedResponse<z.infer<typeof RunView>, 200, "json">;
    }
    // A run whose object predates keeping who acted: they are read from D1's audit log.
    const view = JSON.parse(read.json) as z.infer<typeof RunView>;
    return c.json({ ...view, ...(await runActions(c.env, view.id)) }, 200);
  },
);

runRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/runs/{run}/cancel",
    operationId: "cancelRun",
    summary: "Cancel a run",
    description: "Queued jobs end KILLED at once; running ones go KILLING until their agent confirms (or its grace runs out).",
    security,
    request: { params: RunParam },
    responses: { 200: json(RunView, "The run, cancelling or cancelled."), ...errors },
  }),
  async (c) => {
    const { stub, by } = await actionableRun(c, c.req.valid("param").run);
    return c.json(unwrap(await stub.cancel(by)), 200);
  },
);

const RerunRequest = z
  .strictObject({
    failedOnly: z.boolean().default(false),
    jobs: z
      .array(z.string().min(1).max(300))
      .min(1, "name at least one job, or leave jobs out to re-run them all")
      .max(1000)
      .optional()
      .describe("job keys to re-run, with every job downstream of them"),
  })
  .meta({ id: "RerunRequest" });

runRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/runs/{run}/rerun",
    operationId: "rerunRun",
    summary: "Re-run a run as a new attempt: all its jobs, the failed ones, or the jobs named",
    description:
      "Without options every job runs again (a failed, cancelled or warning run). `failedOnly` re-runs the failed and cancelled jobs and every job downstream of them; `jobs` re-runs the jobs named (a matrix job's key names all its instances) and every job downstream of them, on any finished run, a successful one included. The other jobs keep their results and outputs.",
    security,
    request: {
      params: RunParam,
      body: { required: false, content: { "application/json": { schema: RerunRequest } } },
    },
    responses: { 201: json(RunView, "The run with its new attempt."), ...errors },
  }),
  async (c) => {
    const { stub, by } = await actionableRun(c, c.req.valid("param").run);
    const body = c.req.valid("json") ?? {};
    return c.json(unwrap(await stub.rerun({ failedOnly: body.failedOnly ?? false, ...(body.jobs && { jobs: body.jobs }) }, by)), 201);
  },
);

runRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/runs/{run}/jobs/{job}/log",
    operationId: "getJobLog",
    summary: "A job's log as text (ANSI kept, bytes exactly as the agent sent them), whole or a byte range",
    security,
    request: {
      headers: z.object({
        range: z
          .string()
          .optional()
          .describe("`bytes=N-` (from byte N to the end so far) or `bytes=N-M`: answered 206 with that range; any other form is ignored"),
      }),
      params: RunParam.extend({ job: z.string().min(1).max(100) }),
      query: z.object({
        attempt: z.coerce.number().int().min(1).optional().describe("the job attempt (default: the latest)"),
        runAttempt: z.coerce.number().int().min(1).optional().describe("the run attempt (default: the current)"),
      }),
    },
    responses: {
      200: { description: "The log.", content: { "text/plain": { schema: z.string() } } },
      206: { description: "The range asked for (`content-range` says which bytes of how many).", content: { "text/plain": { schema: z.string() } } },
      416: { description: "The range starts at or past the log's end so far.", content: { "application/json": { schema: ErrorBody } } },
      ...errors,
    },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    const { run, job } = c.req.valid("param");
    const { attempt, runAttempt } = c.req.valid("query");
    const { stub } = await accessibleRun(c.env, run, c.var.principal);
    const range = byteRange(c.req.header("range"));
    const log = unwrap(await stub.readLog(job, attempt, runAttempt, range ?? undefined));
    const headers: Record<string, string> = {
      "content-type": "text/plain; charset=utf-8",
      "content-length": String(log.to - log.from),
      "accept-ranges": "bytes",
      "x-content-type-options": "nosniff",
    };
    if (range) headers["content-range"] = `bytes ${log.from}-${log.to - 1}/${log.size}`;
    const response = c.body(log.body, range ? 206 : 200, headers);
    // A streamed body has no typed form in hono's route types; the bytes are the documented text.
    return response as unknown as TypedResponse<string, 200, "text">;
  },
);

const ApprovalParam = z.object({ run: ID, job: z.string().min(1).max(300) });

/** Who decided an approval, as the run shows it: the person, the token's name, or the admin token. */
function decider(principal: Parameters<typeof canSeeProject>[0]): string {
  if (principal.kind === "user") return principal.email;
  return principal.kind === "token" ? principal.name : "admin";
}

runRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/runs/{run}/jobs/{job}/approve",
    operationId: "approveJob",
    summary: "Approve a job of type approval that waits for it",
    description:
      "The job ends SUCCESS and `inputs` (checked against the job's `approval.inputs`: types, required, defaults) become its outputs; the approver is recorded (`decidedBy`). 409 `job_not_awaiting_approval` when the job does not wait for approval (yet, or any more).",
    security,
    request: {
      params: ApprovalParam,
      body: { required: false, content: { "application/json": { schema: z.strictObject({ inputs: z.record(z.string(), z.unknown()).optional() }) } } },
    },
    responses: { 200: json(RunView, "The run, moving on."), ...errors },
  }),
  async (c) => {
    const { run, job } = c.req.valid("param");
    const { stub, by } = await actionableRun(c, run);
    const inputs = c.req.valid("json")?.inputs ?? {};
    return c.json(unwrap(await stub.decideApproval(job, { approve: true, inputs, by: decider(c.var.principal) }, by)), 200);
  },
);

runRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/runs/{run}/jobs/{job}/reject",
    operationId: "rejectJob",
    summary: "Reject a job of type approval that waits for it",
    description: "The job ends FAILED with reason `rejected` (the jobs that need it are not run); the person and the reason are recorded.",
    security,
    request: {
      params: ApprovalParam,
      body: { required: false, content: { "application/json": { schema: z.strictObject({ reason: z.string().max(1000).optional() }) } } },
    },
    responses: { 200: json(RunView, "The run, moving on."), ...errors },
  }),
  async (c) => {
    const { run, job } = c.req.valid("param");
    const { stub, by } = await actionableRun(c, run);
    const reason = c.req.valid("json")?.reason ?? null;
    return c.json(unwrap(await stub.decideApproval(job, { approve: false, reason, by: decider(c.var.principal) }, by)), 200);
  },
);
