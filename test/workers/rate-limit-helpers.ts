/** Helpers for the tests of the rate limits (rate-limit.test.ts, token-mac.test.ts). */
import { env } from "cloudflare:workers";
import { RATE_LIMIT } from "../../worker/services/rate-limit.ts";

/** Spends a key's whole budget, starting early enough in a window that it does not roll over. */
export async function exhaust(key: string): Promise<void> {
  const periodMs = RATE_LIMIT.periodSeconds * 1000;
  const left = periodMs - (Date.now() % periodMs);
  if (left < 15_000) await new Promise((r) => setTimeout(r, left + 50));
  for (let spent = 0; spent < RATE_LIMIT.limit; spent += 50) {
    await Promise.all(Array.from({ length: 50 }, () => env.API_RATE_LIMIT!.limit({ key })));
  }
}
