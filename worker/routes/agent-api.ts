/**
 * The agent protocol, version 1 (docs/agent-protocol.md). Agent-level calls carry the agent
 * token and go to the queue's DispatcherObject; job-level calls carry the job token and go to
 * the run's RunObject. Neither path touches D1, but registration (which checks the
 * registration token there) and legacy job tokens (one read: does the run exist?).
 *
 * The door checks each token's MAC (platform/token-mac.ts) before any object is addressed, so a
 * made-up token never creates or wakes a Durable Object, and spends a rate-limit budget: the
 * agent's or the job attempt's when the token is sound, the client IP's when it is refused.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import {
  AGENT_API_BASE,
  AGENT_API_V2_BASE,
  AGENT_PROTOCOL_V2,
  AgentHeartbeat,
  ClaimRequest,
  JobAssignment,
  JobFinish,
  JobHeartbeatResponse,
  LogAck,
  RegisterRequest,
  RegisterResponse,
  StepUpdate,
} from "../../domain/protocol.ts";
import { isRegistrationToken, parseScopedToken, sha256Hex } from "../../domain/tokens.ts";
import { checkTokenRoute } from "../../platform/token-mac.ts";
import { enforceRateLimit } from "../services/rate-limit.ts";
import { queueRules } from "../services/queues.ts";
import type { MiddlewareHandler } from "hono";
import { type AppEnv, bearerToken } from "../auth/authenticate.ts";
import { agents, runs, tokens } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError, unwrap } from "../http/errors.ts";
import { dispatcherStub, runStub } from "../../platform/stubs.ts";
import { settingsFrom } from "../../platform/settings.ts";
import { DEFAULT_QUEUE } from "../../domain/queues.ts";
import { errors, ID, json, router } from "./common.ts";
import { MAX_LOG_CHUNK_BYTES } from "../../domain/limits.ts";

export const agentApiRoutes = router();

const agentSecurity = [{ agentToken: [] }];
const jobSecurity = [{ jobToken: [] }];

/** An agent token's shape (its secret is the dispatcher's to check); 401 otherwise. */
function agentToken(header: string | undefined) {
  const token = bearerToken(header);
  const parsed = token && parseScopedToken(token, "yma");
  if (!token || !parsed) throw new ApiError(401, "invalid_agent_token", "send the agent token from registration as `Authorization: Bearer`");
  return { token, queue: parsed.scope };
}

/** A job token's shape, naming the job attempt in the path (its secret is the run's to check); 401/403 otherwise. */
function jobToken(header: string | undefined, jobAttemptId: string) {
  const token = bearerToken(header);
  const parsed = token && parseScopedToken(token, "ymj");
  if (!token || !parsed) throw new ApiError(401, "invalid_job_token", "send the job token from the claim as `Authorization: Bearer`");
  if (parsed.id !== jobAttemptId) throw new ApiError(403, "wrong_job", "this job token belongs to another job");
  return { token, runId: parsed.scope };
}

function agentDispatcher(env: Env, header: string | undefined) {
  const { token, queue } = agentToken(header);
  return { token, dispatcher: dispatcherStub(env, queue) };
}

/** The run of a job token, after checking the token names the job attempt in the path. */
export function jobRun(env: Env, header: string | undefined, jobAttemptId: string) {
  const { token, runId } = jobToken(header, jobAttemptId);
  return { token, run: runStub(env, runId) };
}

const REGISTRATION_TOKEN_HINT = "send a registration token (POST /api/v1/agent-tokens) as `Authorization: Bearer`";

/** A job's routes, in v1 and in v2 (which adds `/report`). */
const JOB_PATH = new RegExp(`^(?:${AGENT_API_BASE}|${AGENT_API_V2_BASE})/jobs/([^/]+)(?:/|$)`);

/** Rate-limit budgets of the agent protocol (docs/limits.md), on the API_RATE_LIMIT binding. */
export const agentRateLimitKeys = {
  /** A caller whose token is refused (or who registers), by client IP; without CF-Connecting-IP (locally) all share one. */
  ip: (ip: string | undefined) => `agent:ip:${ip ?? "unknown"}`,
  agent: (agentId: string) => `agent:agent:${agentId}`,
  /** A job's heartbeats, steps and finish: kept apart from its data, so a chatty log never starves them (a starved heartbeat is a lost job). */
  job: (jobAttemptId: string) => `agent:job:${jobAttemptId}`,
  /** A job's log chunks and artifact uploads. */
  jobData: (jobAttemptId: string) => `agent:job-data:${jobAttemptId}`,
};

const JOB_DATA_PATH = /\/(logs|artifacts|artifact-uploads|cache)(\/|$)/;

const clientKey = (c: { req: { header: (name: string) => string | undefined } }) => agentRateLimitKeys.ip(c.req.header("cf-connecting-ip"));

/** A token whose routing part was not minted here: refused on the caller's IP budget, no object touched. */
async function refuse(env: Env, ip: string, error: ApiError): Promise<never> {
  await enforceRateLimit(env, ip, "a caller with refused agent tokens");
  throw error;
}

/**
 * The agent protocol's door, before any body is read or validated: a call without the right
 * kind of token — a registration token to register, the job's own job token for a job's routes,
 * an agent token for the rest — is refused (401/403) whatever its body, and so is a token whose
 * MAC is wrong (made up) or a legacy one that cannot be right. The secret itself is checked where
 * it is kept (D1, the dispatcher, the run's object), in the route.
 */
export const agentDoor: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header("authorization");
  const job = JOB_PATH.exec(c.req.path);
  const ip = clientKey(c);
  if (c.req.path === `${AGENT_API_BASE}/register`) {
    const token = bearerToken(header);
    if (!token || !isRegistrationToken(token)) await refuse(c.env, ip, new ApiError(401, "invalid_registration_token", REGISTRATION_TOKEN_HINT));
    // Registration reads D1 whatever the token: the IP's budget bounds it.
    await enforceRateLimit(c.env, ip, "a caller registering agents");
  } else if (job) {
    // A segment that does not decode names no job: the token cannot be for it (403).
    let jobAttemptId: string;
    try {
      jobAttemptId = decodeURIComponent(job[1]!);
    } catch {
      jobAttemptId = job[1]!;
    }
    const { token, runId } = jobToken(header, jobAttemptId);
    const route = await checkTokenRoute(c.env, token, "ymj");
    const refused = new ApiError(401, "invalid_job_token", "the job token is not one this server issued");
    if (!route.ok) await refuse(c.env, ip, refused);
    // A job token minted before the MAC: accepted only for a run D1 knows (one indexed read).
    if (route.ok && route.legacy && !(await runExists(c.env, runId))) await refuse(c.env, ip, refused);
    // A v2 report spends the data budget when it carries a log chunk (`seq`), else the control one.
    const data = JOB_DATA_PATH.test(c.req.path) || (c.req.path.endsWith("/report") && c.req.query("seq") !== undefined);
    await enforceRateLimit(c.env, data ? agentRateLimitKeys.jobData(jobAttemptId) : agentRateLimitKeys.job(jobAttemptId), data ? "a job's logs and artifacts" : "a job");
  } else {
    const { token, queue } = agentToken(header);
    const route = await checkTokenRoute(c.env, token, "yma");
    const refused = new ApiError(401, "invalid_agent_token", "the agent token is not one this server issued; register again");
    if (!route.ok) await refuse(c.env, ip, refused);
    // An agent token minted before the MAC can only be of `default`, the one queue there was.
    if (route.ok && route.legacy && queue !== DEFAULT_QUEUE) await refuse(c.env, ip, refused);
    if (route.ok) await enforceRateLimit(c.env, agentRateLimitKeys.agent(route.token.id), "an agent");
  }
  await next();
};

async function runExists(env: Env, runId: string): Promise<boolean> {
  const row = await drizzle(env.DB).select({ id: runs.id }).from(runs).where(eq(runs.id, runId)).limit(1);
  return row.length > 0;
}

agentApiRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_BASE}/register`,
    operationId: "registerAgent",
    summary: "Register an agent with a registration token; answers the agent token",
    security: [{ registrationToken: [] }],
    request: { body: { required: true, content: { "application/json": { schema: RegisterRequest } } } },
    responses: { 201: json(RegisterResponse, "The agent's id and token (keep it; it is shown once)."), ...errors },
  }),
  async (c) => {
    const token = bearerToken(c.req.header("authorization"));
    if (!token) throw new ApiError(401, "invalid_registration_token", REGISTRATION_TOKEN_HINT);
    const db = drizzle(c.env.DB);
    const registration = (
      await db
        .select()
        .from(tokens)
        .where(and(eq(tokens.tokenHash, await sha256Hex(token)), eq(tokens.kind, "agent_registration")))
        .limit(1)
    )[0];
    if (!registration) throw new ApiError(401, "invalid_registration_token", "the registration token is unknown");
    if (registration.revokedAt !== null) {
      throw new ApiError(401, "registration_token_revoked", "the registration token was revoked: ask an admin for a new one (POST /api/v1/agent-tokens)");
    }
    const body = c.req.valid("json");
    const queue = registration.queue;
    // A token of a queue deleted since registers nobody: the queue would never get work.
    if (queue !== DEFAULT_QUEUE && !(await queueRules(c.env, [queue])).has(queue)) {
      throw new ApiError(409, "queue_deleted", `queue '${queue}' of this registration token was deleted: create it again or use another token`);
    }
    const d = dispatcherStub(c.env, queue);
    const { agent, token: agentToken } = await d.register({ ...body, registrationTokenId: registration.id });
    await db.insert(agents).values({
      id: agent.id,
      name: agent.name,
      queue,
      labels: agent.labels,
      version: agent.version,
      hostname: agent.hostname,
      concurrency: agent.concurrency,
      registrationTokenId: registration.id,
      createdAt: agent.createdAt,
      lastSeenAt: agent.lastSeenAt,
      revokedAt: null,
    });
    const settings = settingsFrom(c.env);
    return c.json(
      {
        agentId: agent.id,
        token: agentToken,
        queue,
        heartbeatIntervalMs: settings.heartbeatIntervalMs,
        lostAfterMs: settings.lostAfterMs,
      },
      201,
    );
  },
);

agentApiRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_BASE}/claim`,
    operationId: "claimJob",
    summary: "Claim a job (long-poll): 200 with a job at once when one matches, else 204 after waitSeconds",
    security: agentSecurity,
    request: { body: { required: false, content: { "application/json": { schema: ClaimRequest } } } },
    responses: { 200: json(JobAssignment, "A job for this agent."), 204: { description: "Nothing matched in time; claim again." }, ...errors },
  }),
  async (c) => {
    const { token, dispatcher } = agentDispatcher(c.env, c.req.header("authorization"));
    const body = c.req.valid("json") ?? { waitSeconds: 25 };
    const assignment = unwrap(await dispatcher.claim(token, (body.waitSeconds ?? 25) * 1000, body.claimId));
    if (!assignment) return c.body(null, 204);
    // An agent that speaks protocol 2 is told it may use it; an older one gets what it knows.
    const protocol = (body.protocol ?? 1) >= AGENT_PROTOCOL_V2 ? AGENT_PROTOCOL_V2 : assignment.protocol;
    return c.json({ ...assignment, protocol }, 200);
  },
);

agentApiRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_BASE}/heartbeat`,
    operationId: "sendAgentHeartbeat",
    summary: "The agent is alive",
    security: agentSecurity,
    request: { body: { required: false, content: { "application/json": { schema: AgentHeartbeat } } } },
    responses: { 200: json(z.object({ agentId: z.string() }), "Noted."), ...errors },
  }),
  async (c) => {
    const { token, dispatcher } = agentDispatcher(c.env, c.req.header("authorization"));
    return c.json(unwrap(await dispatcher.heartbeat(token)), 200);
  },
);

agentApiRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_BASE}/stop`,
    operationId: "stopAgent",
    summary: "The agent is shutting down cleanly",
    security: agentSecurity,
    responses: { 200: json(z.object({ ok: z.literal(true) }), "Noted."), ...errors },
  }),
  async (c) => {
    const { token, dispatcher } = agentDispatcher(c.env, c.req.header("authorization"));
    unwrap(await dispatcher.stop(token));
    return c.json({ ok: true as const }, 200);
  },
);

const JobParam = z.object({ jobAttemptId: ID });

agentApiRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/heartbeat`,
    operationId: "sendJobHeartbeat",
    summary: "The job is alive; the answer carries the cancel signal",
    security: jobSecurity,
    request: { params: JobParam },
    responses: { 200: json(JobHeartbeatResponse, "Whether to cancel."), 410: errors[409], ...errors },
  }),
  async (c) => {
    const { jobAttemptId } = c.req.valid("param");
    const { token, run } = jobRun(c.env, c.req.header("authorization"), jobAttemptId);
    return c.json(unwrap(await run.jobHeartbeat(jobAttemptId, token)), 200);
  },
);

agentApiRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/steps/{stepId}`,
    operationId: "reportStep",
    summary: "A step attempt started or ended, with its outputs and metrics",
    security: jobSecurity,
    request: {
      params: JobParam.extend({ stepId: z.string().min(1).max(100) }),
      body: { required: true, content: { "application/json": { schema: StepUpdate } } },
    },
    responses: { 200: json(z.object({ ok: z.literal(true) }), "Recorded."), 410: errors[409], ...errors },
  }),
  async (c) => {
    const { jobAttemptId, stepId } = c.req.valid("param");
    const { token, run } = jobRun(c.env, c.req.header("authorization"), jobAttemptId);
    unwrap(await run.updateStep(jobAttemptId, token, stepId, c.req.valid("json")));
    return c.json({ ok: true as const }, 200);
  },
);

agentApiRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/finish`,
    operationId: "finishJob",
    summary: "The job attempt ended; its token stops working",
    security: jobSecurity,
    request: { params: JobParam, body: { required: true, content: { "application/json": { schema: JobFinish } } } },
    responses: { 200: json(z.object({ ok: z.literal(true) }), "Recorded."), 410: errors[409], ...errors },
  }),
  async (c) => {
    const { jobAttemptId } = c.req.valid("param");
    const { token, run } = jobRun(c.env, c.req.header("authorization"), jobAttemptId);
    unwrap(await run.finishJob(jobAttemptId, token, c.req.valid("json")));
    return c.json({ ok: true as const }, 200);
  },
);

agentApiRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/logs`,
    operationId: "appendJobLog",
    summary: "Append a chunk of the job's log (raw bytes)",
    description:
      "`seq` counts chunks from 0; `offset` is the byte offset of the chunk's first byte. A chunk already stored is acknowledged, not stored again; a chunk past a gap gets 409 `log_gap` with `details: {nextSeq, nextOffset}`.",
    security: jobSecurity,
    request: {
      params: JobParam,
      query: z.object({ seq: z.coerce.number().int().min(0), offset: z.coerce.number().int().min(0) }),
      body: { required: true, content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } },
    },
    responses: { 200: json(LogAck, "Stored (or already stored): where the next chunk goes."), 410: errors[409], ...errors },
  }),
  async (c) => {
    const { jobAttemptId } = c.req.valid("param");
    const { seq, offset } = c.req.valid("query");
    const { token, run } = jobRun(c.env, c.req.header("authorization"), jobAttemptId);
    const tooLarge = () => new ApiError(413, "log_chunk_too_large", `a log chunk may be at most ${MAX_LOG_CHUNK_BYTES} bytes; send smaller chunks`);
    const declared = Number(c.req.header("content-length") ?? "0");
    if (declared > MAX_LOG_CHUNK_BYTES) throw tooLarge();
    const data = new Uint8Array(await c.req.arrayBuffer());
    // A chunked upload has no Content-Length to check up front.
    if (data.byteLength > MAX_LOG_CHUNK_BYTES) throw tooLarge();
    return c.json(unwrap(await run.appendLog(jobAttemptId, token, seq, offset, data)), 200);
  },
);
