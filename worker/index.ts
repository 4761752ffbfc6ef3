/** The worker's entry point: the Hono app, and the Durable Object classes it binds. */
import { createApp } from "./app.ts";
import { auditRetentionDays, trimAuditLog } from "./services/audit.ts";
import { scheduledTick } from "./services/scheduler.ts";

export { RunObject } from "../durable-objects/run-object/index.ts";
export { DispatcherObject } from "../durable-objects/dispatcher/index.ts";

const app = createApp();

export default {
  fetch: app.fetch,
  // The Cron Trigger (wrangler.jsonc `triggers`): fires the pipelines' due schedule slots, and
  // trims the audit log past its retention (a bounded delete per tick).
  scheduled: (controller, env, ctx) => {
    ctx.waitUntil(scheduledTick(env, controller.scheduledTime));
    ctx.waitUntil(trimAuditLog(env, controller.scheduledTime, auditRetentionDays(env)).catch((error) => console.error("audit trim failed", error)));
  },
} satisfies ExportedHandler<import("../platform/env.ts").Env>;
