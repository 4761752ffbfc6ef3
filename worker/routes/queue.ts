/** The queue (pending and running jobs, reorder, bulk cancel) and the agents that serve it. */
import { createRoute, z } from "@hono/zod-openapi";
import { drizzle } from "drizzle-orm/d1";
import { eq } from "drizzle-orm";
import { AgentView, QueueEntryView } from "../../domain/api.ts";
import { canSeeProject, requireGlobalScope, requireScope } from "../auth/principal.ts";
import { agents } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError, unwrap } from "../http/errors.ts";
import { dispatcherStub, runStub } from "../../platform/stubs.ts";
import { errors, ID, json, router, security } from "./common.ts";

export const queueRoutes = router();

export const dispatcher = (env: Env) => dispatcherStub(env);

queueRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/queue",
    operationId: "getQueue",
    summary: "Pending jobs in claim order, and running jobs",
    security,
    responses: { 200: json(z.object({ pending: z.array(QueueEntryView), running: z.array(QueueEntryView) }), "The queue."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    const view = await dispatcher(c.env).view();
    const visible = <T extends { project: string }>(items: T[]) => items.filter((i) => canSeeProject(c.var.principal, i.project));
    return c.json({ pending: visible(view.pending), running: visible(view.running) }, 200);
  },
);

const Reorder = z
  .object({ job: ID.describe("the job attempt id to move"), before: ID.optional(), after: ID.optional() })
  .refine((b) => (b.before === undefined) !== (b.after === undefined), "give exactly one of `before` and `after`");

queueRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/queue/reorder",
    operationId: "reorderQueue",
    summary: "Move a pending job before or after another",
    description: "The moved job takes the priority of the job it is placed next to, so the new order holds.",
    security,
    request: { body: { required: true, content: { "application/json": { schema: Reorder } } } },
    responses: { 200: json(z.object({ ok: z.literal(true) }), "Moved."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "run");
    const body = c.req.valid("json");
    const d = dispatcher(c.env);
    const entries = (await d.view()).pending;
    for (const id of [body.job, body.before ?? body.after!]) {
      const entry = entries.find((e) => e.jobAttemptId === id);
      // Another project's job is hidden, as the queue view hides it (docs/security.md).
      if (entry && !canSeeProject(c.var.principal, entry.project)) throw new ApiError(404, "not_queued", `job ${id} is not in the queue`);
    }
    unwrap(await d.reorder(body.job, { before: body.before, after: body.after }));
    return c.json({ ok: true as const }, 200);
  },
);

queueRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/queue/cancel",
    operationId: "cancelQueuedJobs",
    summary: "Cancel several jobs at once",
    description: "Each job (a job attempt id from the queue) is cancelled in its run; the jobs that need it are not run.",
    security,
    request: { body: { required: true, content: { "application/json": { schema: z.object({ jobs: z.array(ID).min(1).max(500) }) } } } },
    responses: { 200: json(z.object({ cancelled: z.array(z.string()), notFound: z.array(z.string()) }), "What was cancelled."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "run");
    const { jobs } = c.req.valid("json");
    const view = await dispatcher(c.env).view();
    const byId = new Map([...view.pending, ...view.running].map((e) => [e.jobAttemptId, e]));
    const byRun = new Map<string, string[]>();
    const notFound: string[] = [];
    for (const id of jobs) {
      const entry = byId.get(id);
      // Another project's job is hidden, as the queue view hides it (docs/security.md).
      if (!entry || !canSeeProject(c.var.principal, entry.project)) {
        notFound.push(id);
        continue;
      }
      byRun.set(entry.runId, [...(byRun.get(entry.runId) ?? []), id]);
    }
    const cancelled: string[] = [];
    for (const [runId, ids] of byRun) cancelled.push(...unwrap(await runStub(c.env, runId).cancelJobs(ids)));
    return c.json({ cancelled, notFound }, 200);
  },
);

queueRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/agents",
    operationId: "listAgents",
    summary: "Agents: labels, version, state (idle, busy, lost, stopped, revoked), current jobs, last seen",
    security,
    responses: { 200: json(z.object({ items: z.array(AgentView), cursor: z.null() }), "Every agent of the queue."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    // Agents serve every project; a token limited to some sees only those projects' jobs.
    const items = (await dispatcher(c.env).listAgents()).map((a) => ({ ...a, jobs: a.jobs.filter((j) => canSeeProject(c.var.principal, j.project)) }));
    return c.json({ items, cursor: null }, 200);
  },
);

queueRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/api/v1/agents/{id}",
    operationId: "revokeAgent",
    summary: "Revoke an agent: its next call is refused and it stops",
    description: "The jobs it is running are cancelled (their next heartbeat tells the agent to stop them). Registration tokens are not affected.",
    security,
    request: { params: z.object({ id: ID }) },
    responses: { 200: json(z.object({ ok: z.literal(true) }), "Revoked."), ...errors },
  }),
  async (c) => {
    requireGlobalScope(c.var.principal, "admin");
    const { id } = c.req.valid("param");
    const d = dispatcher(c.env);
    const held = (await d.listAgents()).find((a) => a.id === id)?.jobs ?? [];
    if (!(await d.revokeAgent(id))) throw new ApiError(404, "agent_not_found", `no agent ${id}`);
    await drizzle(c.env.DB).update(agents).set({ revokedAt: Date.now() }).where(eq(agents.id, id));
    // A revoked agent must not go on running work (it holds those jobs' secrets): cancel them.
    for (const job of held) {
      try {
        unwrap(await runStub(c.env, job.runId).cancelJobs([job.jobAttemptId]));
      } catch (error) {
        console.warn(`revoking agent ${id}: job ${job.jobAttemptId} not cancelled: ${String(error)}`);
      }
    }
    return c.json({ ok: true as const }, 200);
  },
);
