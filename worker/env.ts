/** The bindings and settings of the worker and its Durable Objects (wrangler.toml, .dev.vars). */
import type { DispatcherObject } from "../durable-objects/dispatcher";
import type { RunObject } from "../durable-objects/run-object";

export interface YardmasterEnv {
  DB: D1Database;
  ARTIFACTS: R2Bucket;
  RUNS: DurableObjectNamespace<RunObject>;
  DISPATCHER: DurableObjectNamespace<DispatcherObject>;
  ASSETS?: Fetcher;
  /** Per-token request budget of the user API and per-project budget of webhooks (docs/limits.md). */
  API_RATE_LIMIT?: RateLimit;
  /** The first admin's API token. */
  YM_ADMIN_TOKEN?: string;
  /** Base64 of 32 random bytes: the AES-GCM key for project secrets and webhook secrets. */
  YM_ENCRYPTION_KEY?: string;
  /** Seconds without a heartbeat after which a running job's agent is lost (default 60). */
  YM_AGENT_LOST_AFTER_SECONDS?: string;
  /** Seconds a cancelled job may take to confirm before it is marked KILLED (default 30). */
  YM_KILL_GRACE_SECONDS?: string;
  /** How often agents heartbeat, in seconds (default 5). */
  YM_HEARTBEAT_SECONDS?: string;
  /** The OpenLineage backend's base URL; unset = no lineage events are sent (docs/lineage.md). */
  OPENLINEAGE_URL?: string;
  /** Path of the lineage endpoint under OPENLINEAGE_URL (default `api/v1/lineage`). */
  OPENLINEAGE_ENDPOINT?: string;
  /** Sent as `Authorization: Bearer` to the lineage backend when set. */
  OPENLINEAGE_API_KEY?: string;
  /** `gzip` to compress lineage events (Content-Encoding: gzip); unset or `none` to not. */
  OPENLINEAGE_COMPRESSION?: string;
  /** Seconds a live-stream viewer may leave its window unacknowledged before it is dropped (default 10). */
  YM_LIVE_STALL_SECONDS?: string;
}

export type Env = YardmasterEnv;

declare global {
  namespace Cloudflare {
    interface Env extends YardmasterEnv {}
    interface GlobalProps {
      mainModule: typeof import("./index");
      durableNamespaces: "RunObject" | "DispatcherObject";
    }
  }
}
