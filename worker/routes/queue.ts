/**
 * The queues' contents (pending and running jobs, reorder, bulk cancel) and the agents that serve
 * them, across every queue of the registry or one (`?queue=`). Each queue is its own
 * DispatcherObject; the registry (D1 `queues`) says which exist.
 */
import { auditContext, auditRow } from "../services/audit.ts";
import { createRoute, z } from "@hono/zod-openapi";
import { drizzle } from "drizzle-orm/d1";
import { eq } from "drizzle-orm";
import { AgentView, QueueEntryView } from "../../domain/views.ts";
import { recordAfter } from "../services/audit.ts";
import { canSeeProject, requireGlobalScope, requireScope } from "../auth/principal.ts";
import { asc } from "drizzle-orm";
import { DEFAULT_QUEUE } from "../../domain/queues.ts";
import { agents, queues } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError, unwrap } from "../http/errors.ts";
import { dispatcherStub, runStub } from "../../platform/stubs.ts";
import { errors, ID, json, QUEUE_NAME, router, security } from "./common.ts";

export const queueRoutes = router();

/** The queues to look at: the one asked for (it must exist), else every queue of the registry. */
async function queueNames(env: Env, only: string | undefined): Promise<string[]> {
  if (only === DEFAULT_QUEUE) return [only]; // always there: no read
  const rows = await drizzle(env.DB).select({ name: queues.name }).from(queues).orderBy(asc(queues.name));
  const names = rows.map((r) => r.name);
  if (!names.includes(DEFAULT_QUEUE)) names.unshift(DEFAULT_QUEUE);
  if (only === undefined) return names;
  if (!names.includes(only)) throw new ApiError(404, "queue_not_found", `no queue '${only}'`);
  return [only];
}

/** The pending and running jobs of the queues, pending in each queue's claim order. */
async function queueViews(env: Env, names: string[]) {
  const views = await Promise.all(names.map((name) => dispatcherStub(env, name).view()));
  return { pending: views.flatMap((v) => v.pending), running: views.flatMap((v) => v.running) };
}

const QueueFilter = z.object({ queue: QUEUE_NAME.optional().describe("only this queue; omitted = every queue") });

queueRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/queue",
    operationId: "getQueue",
    summary: "Pending jobs in claim order (per queue), and running jobs, of every queue or one",
    security,
    request: { query: QueueFilter },
    responses: { 200: json(z.object({ pending: z.array(QueueEntryView), running: z.array(QueueEntryView) }), "The queue."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    const view = await queueViews(c.env, await queueNames(c.env, c.req.valid("query").queue));
    const visible = <T extends { project: string }>(items: T[]) => items.filter((i) => canSeeProject(c.var.principal, i.project));
    return c.json({ pending: visible(view.pending), running: visible(view.running) }, 200);
  },
);

const Reorder = z
  .object({
    job: ID.describe("the job attempt id to move"),
    before: ID.optional(),
    after: ID.optional(),
    queue: QUEUE_NAME.optional().describe("the queue both jobs wait in (default `default`)"),
  })
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
    const d = dispatcherStub(c.env, body.queue ?? DEFAULT_QUEUE);
    const entries = (await d.view()).pending;
    for (const id of [body.job, body.before ?? body.after!]) {
      const entry = entries.find((e) => e.jobAttemptId === id);
      // Another project's job is hidden, as the queue view hides it (docs/security.md).
      if (entry && !canSeeProject(c.var.principal, entry.project)) throw new ApiError(404, "not_queued", `job ${id} is not in the queue`);
      // Seeing it is not moving it: 'run' on its own project (a person's roles differ per project).
      if (entry) requireScope(c.var.principal, "run", entry.project);
    }
    unwrap(await d.reorder(body.job, { before: body.before, after: body.after }));
    const moved = entries.find((e) => e.jobAttemptId === body.job);
    await recordAfter(c, { action: "queue.reorder", project: moved?.project ?? null, target: body.job });
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
    const view = await queueViews(c.env, await queueNames(c.env, undefined));
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
      requireScope(c.var.principal, "run", entry.project);
      byRun.set(entry.runId, [...(byRun.get(entry.runId) ?? []), id]);
    }
    const cancelled: string[] = [];
    for (const [runId, ids] of byRun) {
      // The run's object records who cancelled which jobs (durable-objects/run-object/audit-outbox.ts).
      cancelled.push(...unwrap(await runStub(c.env, runId).cancelJobs(ids, auditContext(c))));
    }
    return c.json({ cancelled, notFound }, 200);
  },
);

queueRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/agents",
    operationId: "listAgents",
    summary: "Agents of every queue or one: queue, labels, version, state (idle, busy, lost, stopped, revoked), current jobs, last seen",
    security,
    request: { query: QueueFilter },
    responses: { 200: json(z.object({ items: z.array(AgentView), cursor: z.null() }), "The agents, by queue."), ...errors },
  }),
  async (c) => {
    requireScope(c.var.principal, "read");
    // Agents serve every project; a token limited to some sees only those projects' jobs.
    const only = c.req.valid("query").queue;
    // Agents of a queue deleted since still exist (idle): list their queue too.
    const withAgents = (await drizzle(c.env.DB).selectDistinct({ queue: agents.queue }).from(agents)).map((r) => r.queue);
    const names = only !== undefined && withAgents.includes(only) ? [only] : await queueNames(c.env, only);
    if (only === undefined) for (const name of withAgents) if (!names.includes(name)) names.push(name);
    const all = (await Promise.all(names.map((name) => dispatcherStub(c.env, name).listAgents()))).flat();
    const items = all.map((a) => ({ ...a, jobs: a.jobs.filter((j) => canSeeProject(c.var.principal, j.project)) }));
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
    // The agent's queue is in D1 (written at registration); its dispatcher holds the agent.
    const row = (await drizzle(c.env.DB).select({ queue: agents.queue }).from(agents).where(eq(agents.id, id)).limit(1))[0];
    if (!row) throw new ApiError(404, "agent_not_found", `no agent ${id}`);
    const d = dispatcherStub(c.env, row.queue);
    const held = (await d.listAgents()).find((a) => a.id === id)?.jobs ?? [];
    if (!(await d.revokeAgent(id))) throw new ApiError(404, "agent_not_found", `no agent ${id}`);
    const db = drizzle(c.env.DB);
    await db.batch([db.update(agents).set({ revokedAt: Date.now() }).where(eq(agents.id, id)), auditRow(c.env, auditContext(c), { action: "agent.revoke", target: id })]);
    // A revoked agent must not go on running work (it holds those jobs' secrets): cancel them.
    for (const job of held) {
      try {
        unwrap(await runStub(c.env, job.runId).cancelJobs([job.jobAttemptId], auditContext(c)));
      } catch (error) {
        console.warn(`revoking agent ${id}: job ${job.jobAttemptId} not cancelled: ${String(error)}`);
      }
    }
    return c.json({ ok: true as const }, 200);
  },
);
