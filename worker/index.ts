/** The worker's entry point: the Hono app, and the Durable Object classes it binds. */
import { createApp } from "./app.ts";
import { auditRetentionDays, trimAuditLog } from "./services/audit.ts";
import { retentionTick } from "./services/retention.ts";
import { scheduledTick } from "./services/scheduler.ts";

export { RunObject } from "../durable-objects/run-object/index.ts";
export { DispatcherObject } from "../durable-objects/dispatcher/index.ts";
export { ConcurrencyGroupsObject } from "../durable-objects/concurrency-groups/index.ts";

const app = createApp();

export default {
  fetch: app.fetch,
  // The Cron Trigger (wrangler.jsonc `triggers`): fires the pipelines' due schedule slots, trims
  // the audit log past its retention, and enforces the projects' retention (bounded per tick).
  scheduled: (controller, env, ctx) => {
    ctx.waitUntil(scheduledTick(env, controller.scheduledTime));
    ctx.waitUntil(trimAuditLog(env, controller.scheduledTime, auditRetentionDays(env)).catch((error) => console.error("audit trim failed", error)));
    // Retention (issue 18) apart from the schedules: a slow or failing sweep never delays a run's start.
    ctx.waitUntil(retentionTick(env, controller.scheduledTime).catch((error: unknown) => console.warn(`retention tick failed: ${String(error)}`)));
  },
} satisfies ExportedHandler<import("../platform/env.ts").Env>;
