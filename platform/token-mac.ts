/**
 * The MAC in agent and job tokens (issue 13 item 3, docs/security.md "Token MAC"): base64url of
 * the first 16 bytes of HMAC-SHA256 over `<kind>.<scope>.<id>`, keyed by `hmacKey(env, "token-route v1")`.
 * The objects mint tokens with it; the worker checks it before it addresses any object, so a
 * made-up token never creates or wakes a Durable Object. The secret part is still checked by the
 * object that keeps its hash: the MAC only proves the routing part was minted here.
 */
import { parseScopedToken, routingPart, scopedToken, type ScopedKind, type ScopedToken } from "../domain/tokens.ts";
import { base64url, fromBase64url, hmacKey } from "./crypto.ts";
import type { Env } from "./env.ts";

const PURPOSE = "token-route v1";
const MAC_BYTES = 16;

async function macOf(env: Env, kind: ScopedKind, scope: string, id: string): Promise<Uint8Array> {
  const key = await hmacKey(env, PURPOSE);
  const signature = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(routingPart(kind, scope, id)));
  return new Uint8Array(signature).slice(0, MAC_BYTES);
}

/** A new token for `scope` and `id`, carrying the MAC of its routing part. */
export async function mintScopedToken(env: Env, kind: ScopedKind, scope: string, id: string): Promise<string> {
  return scopedToken(kind, scope, id, base64url(await macOf(env, kind, scope, id)));
}

export const mintAgentToken = (env: Env, queue: string, agentId: string) => mintScopedToken(env, "yma", queue, agentId);
export const mintJobToken = (env: Env, runId: string, jobAttemptId: string) => mintScopedToken(env, "ymj", runId, jobAttemptId);

export type RouteCheck =
  /** The MAC is right: the routing part was minted here. */
  | { ok: true; token: ScopedToken; legacy: false }
  /** A four-part token minted before the MAC: the caller decides what it may reach. */
  | { ok: true; token: ScopedToken; legacy: true }
  | { ok: false };

/** Whether a token's routing part was minted here (constant time in the MAC). */
export async function checkTokenRoute(env: Env, token: string, kind: ScopedKind): Promise<RouteCheck> {
  const parsed = parseScopedToken(token, kind);
  if (!parsed) return { ok: false };
  if (parsed.mac === null) return { ok: true, token: parsed, legacy: true };
  const given = fromBase64url(parsed.mac);
  if (!given || given.byteLength !== MAC_BYTES) return { ok: false };
  const expected = await macOf(env, kind, parsed.scope, parsed.id);
  let diff = 0;
  for (let i = 0; i < MAC_BYTES; i++) diff |= given[i]! ^ expected[i]!;
  return diff === 0 ? { ok: true, token: parsed, legacy: false } : { ok: false };
}
