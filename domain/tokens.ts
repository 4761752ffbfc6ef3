/**
 * Bearer tokens. Each kind has a prefix that says what it is and, for agent and job tokens,
 * where it is checked, so the worker can route the check without a database read:
 *   ymt_<secret>                              an API token (checked against D1)
 *   ymr_<secret>                              an agent registration token (D1)
 *   yma.<queue>.<agentId>.<mac>.<secret>      an agent token (the queue's DispatcherObject)
 *   ymj.<runId>.<jobAttemptId>.<mac>.<secret> a job token (the run's RunObject)
 * `<mac>` signs the routing part (kind, scope, id) so the worker refuses a made-up token before
 * it addresses any Durable Object (platform/token-mac.ts mints and checks it; this file only
 * parses). Tokens minted before the MAC have four parts (`legacy`). Only the SHA-256 of a token
 * is stored. Web Crypto only: runs in Workers and in Node.
 */

export function randomSecret(bytes = 32): string {
  const buf = crypto.getRandomValues(new Uint8Array(bytes));
  let binary = "";
  for (const b of buf) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export async function sha256Hex(data: string | Uint8Array<ArrayBuffer>): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares two strings in time that depends only on their length. */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export const newApiToken = () => `ymt_${randomSecret()}`;
export const newRegistrationToken = () => `ymr_${randomSecret()}`;
export type ScopedKind = "yma" | "ymj";

/** A scoped token from its routing part, its MAC (platform/token-mac.ts) and a fresh secret. */
export const scopedToken = (kind: ScopedKind, scope: string, id: string, mac: string) => `${kind}.${scope}.${id}.${mac}.${randomSecret()}`;

/** What the MAC signs: the kind, the scope and the id, as they stand in the token. */
export const routingPart = (kind: ScopedKind, scope: string, id: string) => `${kind}.${scope}.${id}`;

/** Whether a token has the shape of an agent registration token (it may still be unknown). */
export const isRegistrationToken = (token: string) => token.startsWith("ymr_") && token.length > 4;

export interface ScopedToken {
  /** The queue (agent token) or run id (job token). */
  scope: string;
  /** The agent id or job attempt id. */
  id: string;
  /** The MAC over the routing part; null for a legacy (four-part) token minted before it. */
  mac: string | null;
}

/** Splits an agent (`yma`) or job (`ymj`) token; null when it is not of that kind. */
export function parseScopedToken(token: string, kind: ScopedKind): ScopedToken | null {
  const parts = token.split(".");
  if ((parts.length !== 4 && parts.length !== 5) || parts[0] !== kind || parts.some((p) => !p)) return null;
  return { scope: parts[1]!, id: parts[2]!, mac: parts.length === 5 ? parts[3]! : null };
}
