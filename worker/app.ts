/** The worker's Hono app: the user API, the agent API, the OpenAPI document. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { except } from "hono/combine";
import { type AppEnv, authenticate } from "./auth/authenticate.ts";
import { AGENT_API_BASE, AGENT_API_V2_BASE } from "../domain/protocol.ts";
import { ApiError, notFound, onError } from "./http/errors.ts";
import { validationHook } from "./http/validation.ts";
import { agentApiRoutes, agentDoor } from "./routes/agent-api.ts";
import { agentReportRoutes } from "./routes/agent-report.ts";
import { agentPipelineRoutes } from "./routes/agent-pipeline.ts";
import { projectSettingsRoutes } from "./routes/project-settings.ts";
import { agentArtifactRoutes } from "./routes/agent-artifacts.ts";
import { agentCacheUploadRoutes } from "./routes/agent-cache-uploads.ts";
import { agentRunArtifactRoutes } from "./routes/agent-run-artifacts.ts";
import { agentCacheRoutes } from "./routes/agent-caches.ts";
import { removalRoutes } from "./routes/removal.ts";
import { artifactRoutes } from "./routes/artifacts.ts";
import { projectRoutes } from "./routes/projects.ts";
import { queueRoutes } from "./routes/queue.ts";
import { queueInsightRoutes } from "./routes/queue-insight.ts";
import { concurrencyGroupRoutes } from "./routes/concurrency-groups.ts";
import { historyRoutes } from "./routes/history.ts";
import { queueRegistryRoutes } from "./routes/queues/index.ts";
import { runRoutes } from "./routes/runs.ts";
import { lineageRoutes } from "./routes/lineage.ts";
import { lineageInRoutes } from "./routes/lineage-in.ts";
import { tokenRoutes } from "./routes/tokens.ts";
import { userRoutes } from "./routes/users/index.ts";
import { auditRoutes } from "./routes/audit.ts";
import { sessionRoutes } from "./routes/session.ts";
import { secretRoutes } from "./routes/secrets.ts";
import { webhookDeliveryRoutes } from "./routes/webhook-deliveries.ts";
import { WEBHOOK_PATHS, webhookRoutes } from "./routes/webhooks.ts";
import { LIVE_STREAM_PATHS, liveStreamRoutes, liveTicketRoutes } from "./routes/live.ts";
import { apiRateLimit } from "./services/rate-limit.ts";

/** JSON bodies of the user API; pipeline files have their own (smaller) limit, artifacts none here. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;
/**
 * JSON bodies of the agent API (claims, step updates, finish, …): room for a step's or job's
 * outputs at their limit (domain/protocol.ts OUTPUT_LIMITS, 1 MiB) however JSON escapes them.
 * The byte routes (log chunks, artifacts, cache archives and their parts) have their own limits.
 */
export const MAX_AGENT_JSON_BODY_BYTES = 4 * 1024 * 1024;
const AGENT_BYTE_ROUTES = /\/jobs\/[^/]+\/(logs|artifacts|artifact-uploads\/[^/]+\/parts\/[^/]+|cache|cache-uploads\/[^/]+\/parts\/[^/]+)$/;

export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.onError(onError);
  app.notFound(notFound);

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/health",
      operationId: "getHealth",
      summary: "Liveness: the worker answers (no token needed)",
      security: [],
      responses: { 200: { description: "Alive.", content: { "application/json": { schema: z.object({ ok: z.literal(true) }) } } } },
    }),
    (c) => c.json({ ok: true as const }, 200),
  );
  // The dashboard's sign-in (routes/session.ts) checks its own token: mounted before the door.
  app.route("/", sessionRoutes);

  // Webhooks carry a signature, not a bearer token, and have their own body limits and rate
  // limit (routes/webhooks.ts): they skip the user API's door.
  // Live streams (WebSockets) authenticate themselves, also by ticket, and must pass their 101
  // through untouched (routes/live.ts): they skip the door and the body limit too.
  const ownDoor = [WEBHOOK_PATHS, ...LIVE_STREAM_PATHS];
  app.use("/api/v1/*", except(ownDoor, authenticate, apiRateLimit));
  app.use(
    "/api/v1/*",
    except(ownDoor, bodyLimit({
      maxSize: MAX_JSON_BODY_BYTES,
      onError: () => {
        throw new ApiError(413, "body_too_large", `a request body may be at most ${MAX_JSON_BODY_BYTES} bytes`);
      },
    })),
  );

  // Agents: the right kind of token before any body is read (routes/agent-api.ts).
  app.use(`${AGENT_API_BASE}/*`, agentDoor);
  app.use(`${AGENT_API_V2_BASE}/*`, agentDoor);
  const agentJsonLimit = bodyLimit({
    maxSize: MAX_AGENT_JSON_BODY_BYTES,
    onError: () => {
      throw new ApiError(413, "body_too_large", `an agent API request body may be at most ${MAX_AGENT_JSON_BODY_BYTES} bytes`);
    },
  });
  app.use(`${AGENT_API_BASE}/*`, (c, next) => (AGENT_BYTE_ROUTES.test(new URL(c.req.url).pathname) ? next() : agentJsonLimit(c, next)));

  // Behind the door, in this order (each router holds its full paths).
  const routers = [
    projectRoutes,
    projectSettingsRoutes,
    runRoutes,
    lineageRoutes,
    lineageInRoutes,
    tokenRoutes,
    userRoutes,
    auditRoutes,
    webhookRoutes,
    webhookDeliveryRoutes,
    secretRoutes,
    queueRoutes,
    queueInsightRoutes,
    concurrencyGroupRoutes,
    historyRoutes,
    queueRegistryRoutes,
    agentApiRoutes,
    agentReportRoutes,
    agentPipelineRoutes,
    agentArtifactRoutes,
    agentRunArtifactRoutes,
    agentCacheRoutes,
    agentCacheUploadRoutes,
    removalRoutes,
    artifactRoutes,
    liveStreamRoutes,
    liveTicketRoutes,
  ];
  for (const routes of routers) app.route("/", routes);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "An API token (POST /api/v1/tokens) or the admin token. Behind Cloudflare Access, a person's `Cf-Access-Jwt-Assertion` is accepted instead.",
  });
  for (const agentSide of ["registrationToken", "agentToken", "jobToken"]) {
    app.openAPIRegistry.registerComponent("securitySchemes", agentSide, { type: "http", scheme: "bearer" });
  }
  app.openAPIRegistry.registerComponent("securitySchemes", "liveTicket", {
    type: "apiKey",
    in: "query",
    name: "ticket",
    description: "A ticket from POST /api/v1/live-tickets (live streams only; expires after 60 s).",
  });
  // Every operation has an operationId (generated clients name their methods after it) and says
  // its security, `[]` for the public ones; `redocly lint` passes (test/workers/openapi-lint.test.ts).
  app.doc31("/api/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Yardmaster API",
      version: "1.0.0",
      description: "Pipelines, runs, queue, agents and artifacts. Errors are `{error: {code, message, details?}}`.",
      // OpenAPI 3.1's `identifier` (an SPDX expression); the library's type is 3.0's, without it.
      license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" } as { name: string },
    },
    // Relative: the API is at the root of whichever deployment serves this document.
    servers: [{ url: "/", description: "The Yardmaster deployment serving this document" }],
  });
  return app;
}
