/**
 * What a Durable Object's RPC method answers: a value, or a refusal the worker turns into an
 * HTTP error. Refusals travel as values because thrown errors lose their fields over RPC.
 */
export interface Refusal {
  status: 400 | 401 | 403 | 404 | 409 | 410 | 413 | 416 | 429;
  code: string;
  message: string;
  details?: unknown;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: Refusal };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = (status: Refusal["status"], code: string, message: string, details?: unknown): Result<never> => ({
  ok: false,
  error: { status, code, message, ...(details === undefined ? {} : { details }) },
});
