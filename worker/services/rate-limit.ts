/**
 * Rate limits (docs/limits.md) on the Workers Rate Limiting binding `API_RATE_LIMIT`
 * (wrangler.jsonc `ratelimits`): a budget per API token on the user API, and one per project
 * on its webhooks; the agent protocol spends one per agent, per job attempt, and per client IP
 * for refused tokens (routes/agent-api.ts). Not limited: the admin token (YM_ADMIN_TOKEN, the
 * operator's own credential, which must keep working when scripts misbehave).
 *
 * The binding answers only yes or no. Its counters are per Cloudflare location and fixed
 * windows of `RATE_LIMIT.periodSeconds`, so `Retry-After` is the time left in the current
 * window: never longer than one period, and right on the local runtime (miniflare).
 */
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../auth/authenticate.ts";
import type { Principal } from "../auth/principal.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError } from "../http/errors.ts";

/** Mirrors `ratelimits` in wrangler.jsonc (the binding does not expose its settings). */
export const RATE_LIMIT = { limit: 600, periodSeconds: 60 } as const;

/** The budget a caller spends, or null for the admin token (not limited). */
export function rateLimitKey(principal: Principal): string | null {
  if (principal.kind === "admin") return null;
  return principal.kind === "token" ? `api:token:${principal.tokenId}` : `api:user:${principal.email}`;
}

export const webhookRateLimitKey = (project: string) => `webhook:${project}`;
/**
 * Deliveries to a project whose signature does not check out spend this budget, not the one
 * above: a flood of forged deliveries cannot lock out the real ones (GitHub does not retry a 429).
 */
export const webhookRejectedRateLimitKey = (project: string) => `webhook-rejected:${project}`;

/** Seconds until the current window ends (at least 1). */
export function retryAfterSeconds(now: number, periodSeconds: number = RATE_LIMIT.periodSeconds): number {
  const periodMs = periodSeconds * 1000;
  return Math.max(1, Math.ceil((periodMs - (now % periodMs)) / 1000));
}

/** Throws a 429 (with Retry-After) when `key` has spent its budget. Fails open if the binding errs. */
export async function enforceRateLimit(env: Env, key: string, what: string): Promise<void> {
  const limiter = env.API_RATE_LIMIT;
  if (!limiter) return;
  let success: boolean;
  try {
    ({ success } = await limiter.limit({ key }));
  } catch (error) {
    // A limiter outage must not take the API down with it.
    console.warn(`rate limiter unavailable, letting ${key} through: ${String(error)}`);
    return;
  }
  if (success) return;
  const retryAfter = retryAfterSeconds(Date.now());
  console.warn(`rate limited ${key}: more than ${RATE_LIMIT.limit} requests in ${RATE_LIMIT.periodSeconds} s`);
  throw new ApiError(
    429,
    "rate_limited",
    `${what} may make at most ${RATE_LIMIT.limit} requests per ${RATE_LIMIT.periodSeconds} seconds; retry after ${retryAfter} s`,
    { limit: RATE_LIMIT.limit, periodSeconds: RATE_LIMIT.periodSeconds, retryAfterSeconds: retryAfter },
    { "retry-after": String(retryAfter) },
  );
}

/** The user API's per-token limit; runs after `authenticate`. */
export const apiRateLimit = createMiddleware<AppEnv>(async (c, next) => {
  const key = rateLimitKey(c.var.principal);
  if (key) await enforceRateLimit(c.env, key, "a token");
  await next();
});
