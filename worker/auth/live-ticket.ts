/**
 * Live tickets: how a browser (or any WebSocket client that cannot set headers) opens a live
 * stream without putting its API token in a URL. `POST /api/v1/live-tickets` (authenticated as
 * usual) answers a ticket that names the caller and expires after TICKET_TTL_MS; the client
 * passes it as `?ticket=` on the WebSocket URL.
 *
 * A ticket is signed, not stored: `ymlt.<payload>.<HMAC-SHA256>` (base64url), with a key
 * derived by HKDF from YM_ENCRYPTION_KEY, so checking one needs no database write. It opens
 * live streams only (read scope at most), never the rest of the API; a leaked ticket is worth
 * at most a minute of watching what its owner may watch. When it is redeemed, a token
 * principal's token (and a person's roles) are read again from D1, so revoking the token also
 * stops its tickets.
 */
import { and, eq, isNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { tokens } from "../../platform/db/schema.ts";
import { base64url, fromBase64url, hmacKey } from "../../platform/crypto.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError } from "../http/errors.ts";
import { grantOf, rolesOf } from "../services/people.ts";
import { tokenPrincipal } from "./authenticate.ts";
import type { Principal } from "./principal.ts";

export const TICKET_TTL_MS = 60_000;
const PREFIX = "ymlt";

interface TicketPayload {
  v: 1;
  /** Expiry, ms since the epoch. */
  exp: number;
  p: Principal;
}

const encoder = new TextEncoder();

export async function issueTicket(env: Env, principal: Principal, now = Date.now()): Promise<{ ticket: string; expiresAt: number }> {
  const payload: TicketPayload = { v: 1, exp: now + TICKET_TTL_MS, p: principal };
  const body = base64url(encoder.encode(JSON.stringify(payload)));
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(env, "live-ticket v1"), encoder.encode(`${PREFIX}.${body}`)));
  return { ticket: `${PREFIX}.${body}.${base64url(signature)}`, expiresAt: payload.exp };
}

/** The principal a ticket names, or a 401 that says why it is refused. */
export async function redeemTicket(env: Env, ticket: string, now = Date.now()): Promise<Principal> {
  const refuse = (why: string) =>
    new ApiError(401, "invalid_ticket", `${why}: get a new one from POST /api/v1/live-tickets (tickets last ${TICKET_TTL_MS / 1000} s)`);
  const [prefix, body, signature, ...rest] = ticket.split(".");
  const signatureBytes = signature === undefined ? null : fromBase64url(signature);
  const bodyBytes = body === undefined ? null : fromBase64url(body);
  if (prefix !== PREFIX || rest.length > 0 || !bodyBytes || !signatureBytes) throw refuse("the ticket is malformed");
  const valid = await crypto.subtle.verify("HMAC", await hmacKey(env, "live-ticket v1"), signatureBytes, encoder.encode(`${PREFIX}.${body}`));
  if (!valid) throw refuse("the ticket's signature does not match");
  let payload: TicketPayload;
  try {
    payload = JSON.parse(new TextDecoder().decode(bodyBytes)) as TicketPayload;
  } catch {
    throw refuse("the ticket is malformed");
  }
  if (payload.v !== 1 || typeof payload.exp !== "number" || !payload.p) throw refuse("the ticket is malformed");
  if (payload.exp <= now) throw refuse("the ticket has expired");
  const principal = payload.p;
  if (principal.kind === "token") {
    const row = (
      await drizzle(env.DB)
        .select({ id: tokens.id, name: tokens.name, expiresAt: tokens.expiresAt, scopes: tokens.scopes, projects: tokens.projects, owner: tokens.owner })
        .from(tokens)
        .where(and(eq(tokens.id, principal.tokenId), eq(tokens.kind, "api"), isNull(tokens.revokedAt)))
        .limit(1)
    )[0];
    if (!row || (row.expiresAt !== null && row.expiresAt <= now)) throw refuse("the token that asked for this ticket is revoked or expired");
    return tokenPrincipal(env, principal.via, row);
  }
  // A person's roles are read again too: a role removed since stops their tickets.
  if (principal.kind === "user") return { ...principal, grants: (await rolesOf(env, principal.email)).map(grantOf) };
  return principal;
}
