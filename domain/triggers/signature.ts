/**
 * HMAC-SHA256 request signatures, GitHub's `X-Hub-Signature-256: sha256=<hex>` form (also used
 * by the generic webhook's `X-Yardmaster-Signature-256`). Web Crypto only; the comparison is
 * `crypto.subtle.verify`, which takes the same time whatever bytes differ.
 */

export const SIGNATURE_PREFIX = "sha256=";

const encoder = new TextEncoder();

function hmacKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

// A copy for a given array: Web Crypto takes bytes backed by an ArrayBuffer, not a shared one.
const bytesOf = (body: string | Uint8Array): Uint8Array<ArrayBuffer> => Uint8Array.from(typeof body === "string" ? encoder.encode(body) : body);

/** `sha256=<hex>` of the body under the secret. */
export async function signBody(secret: string, body: string | Uint8Array): Promise<string> {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), bytesOf(body)));
  return SIGNATURE_PREFIX + [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export type SignatureCheck = "ok" | "missing" | "malformed" | "mismatch";

/** Checks a signature header against the raw body. */
export async function verifySignature(secret: string, body: string | Uint8Array, header: string | null | undefined): Promise<SignatureCheck> {
  if (!header) return "missing";
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!match) return "malformed";
  const hex = match[1]!;
  const mac = new Uint8Array(32);
  for (let i = 0; i < 32; i++) mac[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return (await crypto.subtle.verify("HMAC", await hmacKey(secret), mac, bytesOf(body))) ? "ok" : "mismatch";
}
