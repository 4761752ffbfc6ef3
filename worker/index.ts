/** The worker's entry point: the Hono app, and the Durable Object classes it binds. */
import { createApp } from "./app";
import { scheduledTick } from "./services/scheduler";

export { RunObject } from "../durable-objects/run-object";
export { DispatcherObject } from "../durable-objects/dispatcher";

const app = createApp();

export default {
  fetch: app.fetch,
  // The Cron Trigger (wrangler.toml [triggers]): fires the pipelines' due schedule slots.
  scheduled: (controller, env, ctx) => ctx.waitUntil(scheduledTick(env, controller.scheduledTime)),
} satisfies ExportedHandler<import("./env").Env>;
