/** Recognising D1's errors, also when drizzle wraps them in its own error. */

function messages(error: unknown): string[] {
  const out: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e && depth < 5; depth++) {
    out.push(e instanceof Error ? e.message : String(e));
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

/** A UNIQUE constraint failure: the caller turns it into a 409. */
export function isUniqueViolation(error: unknown): boolean {
  return messages(error).some((m) => /UNIQUE constraint failed/i.test(m));
}

/**
 * D1 itself failed (overloaded, unreachable, a table missing during an incident). The user gets
 * a 503 to retry, not a 500; the error is still logged in full, as a bug would be.
 */
export function isD1Failure(error: unknown): boolean {
  return messages(error).some((m) => /\bD1_(ERROR|EXEC_ERROR|TYPE_ERROR|COLUMN_NOTFOUND)\b|D1 DB is overloaded|Network connection lost/i.test(m));
}
