/**
 * AES-GCM encryption at rest for project secrets and webhook secrets. The key is
 * YM_ENCRYPTION_KEY (base64 of 32 bytes; `npm start` writes one to .dev.vars). Stored form:
 * `v1.<iv base64>.<ciphertext base64>`.
 */
import type { Env } from "../env";
import { ApiError } from "../http/errors";

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

const keys = new Map<string, Promise<CryptoKey>>();

function keyFor(env: Env): Promise<CryptoKey> {
  const raw = env.YM_ENCRYPTION_KEY;
  if (!raw) {
    throw new ApiError(500 as never, "not_configured", "YM_ENCRYPTION_KEY is not set: the server cannot store secrets");
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
