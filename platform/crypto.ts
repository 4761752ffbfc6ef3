/**
 * AES-GCM encryption at rest for project secrets and webhook secrets. The key is
 * YM_ENCRYPTION_KEY (base64 of 32 bytes; `npm start` writes one to .dev.vars). Stored form:
 * `v1.<iv base64>.<ciphertext base64>`. Keys for signatures (live tickets, token MACs) are derived
 * from the same secret by HKDF, one per purpose, so one secret serves them all.
 */
import type { Env } from "./env.ts";

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** A setting the deployment lacks (the worker answers 500 `not_configured` with this message). */
export class NotConfiguredError extends Error {
  override readonly name = "NotConfiguredError";
}

const keys = new Map<string, Promise<CryptoKey>>();

function keyFor(env: Env): Promise<CryptoKey> {
  const raw = env.YM_ENCRYPTION_KEY;
  if (!raw) {
    throw new NotConfiguredError("YM_ENCRYPTION_KEY is not set: the server cannot store secrets");
  }
  let key = keys.get(raw);
  if (!key) {
    const bytes = unb64(raw);
    if (bytes.byteLength !== 32) throw new Error("YM_ENCRYPTION_KEY must be base64 of exactly 32 bytes");
    key = crypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"]);
    keys.set(raw, key);
  }
  return key;
}

export async function encryptSecret(env: Env, plaintext: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await keyFor(env), new TextEncoder().encode(plaintext));
  return `v1.${b64(iv)}.${b64(new Uint8Array(data))}`;
}

export async function decryptSecret(env: Env, stored: string): Promise<string> {
  const [version, iv, data] = stored.split(".");
  if (version !== "v1" || !iv || !data) throw new Error("unknown secret encoding");
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: unb64(iv) }, await keyFor(env), unb64(data));
  return new TextDecoder().decode(plain);
}

const hmacKeys = new Map<string, Promise<CryptoKey>>();

/** An HMAC-SHA256 key for one purpose (e.g. "live-ticket v1"), derived by HKDF from YM_ENCRYPTION_KEY. */
export function hmacKey(env: Env, purpose: string): Promise<CryptoKey> {
  const raw = env.YM_ENCRYPTION_KEY;
  if (!raw) throw new NotConfiguredError(`YM_ENCRYPTION_KEY is not set: the server cannot sign (${purpose})`);
  const cacheKey = `${purpose}\u0000${raw}`;
  let key = hmacKeys.get(cacheKey);
  if (!key) {
    const encoder = new TextEncoder();
    key = (async () => {
      const material = await crypto.subtle.importKey("raw", unb64(raw), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: encoder.encode("yardmaster"), info: encoder.encode(purpose) },
        material,
        { name: "HMAC", hash: "SHA-256", length: 256 },
        false,
        ["sign", "verify"],
      );
    })();
    hmacKeys.set(cacheKey, key);
  }
  return key;
}

/** Base64url without padding (tokens, tickets, signatures). */
export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The bytes of a base64url text, or null when it is not base64url. */
export function fromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null; // a length no base64 has
  }
}
