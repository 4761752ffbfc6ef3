/** Timing settings read from the worker's vars (wrangler.jsonc / .dev.vars), with defaults. */
import type { EngineSettings } from "../domain/run-engine/index.ts";
import type { Env } from "./env.ts";

function seconds(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n > 0 ? n * 1000 : fallback;
}

export interface Settings extends EngineSettings {
  heartbeatIntervalMs: number;
  /** How long a claim is held open when no job matches. */
  claimWaitMs: number;
  /**
   * How long after a job attempt ends its token may still send log chunks (what was in flight
   * when it finished); 410 `job_ended` after. The log is archived to R2 once this has passed.
   */
  lateLogGraceMs: number;
}

export function settingsFrom(env: Env): Settings {
  return {
    lostAfterMs: seconds(env.YM_AGENT_LOST_AFTER_SECONDS, 60_000),
    killGraceMs: seconds(env.YM_KILL_GRACE_SECONDS, 30_000),
    timeoutGraceMs: 30_000,
    heartbeatIntervalMs: seconds(env.YM_HEARTBEAT_SECONDS, 5_000),
    claimWaitMs: 25_000,
    lateLogGraceMs: seconds(env.YM_LATE_LOG_GRACE_SECONDS, 60_000),
  };
}
