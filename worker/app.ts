/** The worker's Hono app: the user API, the agent API, the OpenAPI document. */
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { type AppEnv, authenticate } from "./auth/authenticate";
import { ApiError, notFound, onError } from "./http/errors";
import { validationHook } from "./http/validation";
import { agentApiRoutes } from "./routes/agent-api";
import { agentArtifactRoutes } from "./routes/agent-artifacts";
import { artifactRoutes } from "./routes/artifacts";
import { projectRoutes } from "./routes/projects";
import { queueRoutes } from "./routes/queue";
import { runRoutes } from "./routes/runs";
import { tokenRoutes } from "./routes/tokens";

/** JSON bodies of the user API; pipeline files have their own (smaller) limit, artifacts none here. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.onError(onError);
  app.notFound(notFound);

  app.get("/api/health", (c) => c.json({ ok: true }));

  app.use("/api/v1/*", authenticate);
  app.use(
    "/api/v1/*",
    bodyLimit({
      maxSize: MAX_JSON_BODY_BYTES,
      onError: () => {
        throw new ApiError(413, "body_too_large", `a request body may be at most ${MAX_JSON_BODY_BYTES} bytes`);
      },
    }),
  );

  app.route("/", projectRoutes);
  app.route("/", runRoutes);
  app.route("/", tokenRoutes);
  app.route("/", queueRoutes);
  app.route("/", agentApiRoutes);
  app.route("/", agentArtifactRoutes);
  app.route("/", artifactRoutes);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "An API token (POST /api/v1/tokens) or the admin token.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "registrationToken", { type: "http", scheme: "bearer" });
  app.openAPIRegistry.registerComponent("securitySchemes", "agentToken", { type: "http", scheme: "bearer" });
  app.openAPIRegistry.registerComponent("securitySchemes", "jobToken", { type: "http", scheme: "bearer" });
  app.doc31("/api/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Yardmaster API",
      version: "1.0.0",
      description: "Pipelines, runs, queue, agents and artifacts. Errors are `{error: {code, message, details?}}`.",
    },
  });
  return app;
}
