/** Recognising a UNIQUE constraint failure from D1, also when drizzle wraps it in its own error. */
export function isUniqueViolation(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; e && depth < 5; depth++) {
    const message = e instanceof Error ? e.message : String(e);
    if (/UNIQUE constraint failed/i.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
