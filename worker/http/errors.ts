/**
 * Every error leaves the API as `{error: {code, message, details?}}` with the right status.
 * Handlers throw ApiError (or return a Durable Object's refusal through `unwrap`); anything
 * else that escapes is a bug and becomes a 500 that is logged.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { NotConfiguredError } from "../../platform/crypto.ts";
import type { Result } from "../../platform/result.ts";
import { isD1Failure } from "../../platform/db/unique.ts";

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** Extra response headers (e.g. Retry-After on a 429). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export function errorBody(code: string, message: string, details?: unknown) {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}

/** The value of a Durable Object's answer, or its refusal thrown as an ApiError. */
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw new ApiError(result.error.status, result.error.code, result.error.message, result.error.details);
}

export function onError(error: Error, c: Context): Response {
  if (error instanceof ApiError) {
    return c.json(errorBody(error.code, error.message, error.details), error.status, error.headers);
  }
  if (error instanceof HTTPException) {
    const status = error.status as ContentfulStatusCode;
    const message = error.message || "the request could not be read";
    const code =
      status === 400 && /json/i.test(message)
        ? "malformed_json"
        : status === 413
          ? "body_too_large"
          : status === 415
            ? "unsupported_media_type"
            : status === 401
              ? "unauthorized"
              : "bad_request";
    const said =
      code === "malformed_json"
        ? "the request body is not valid JSON"
        : code === "unsupported_media_type"
          ? `this route does not take a body of type '${c.req.header("content-type") ?? "(none)"}'; send JSON with Content-Type: application/json`
          : message;
    return c.json(errorBody(code, said), status);
  }
  if (error instanceof NotConfiguredError) return c.json(errorBody("not_configured", error.message), 500);
  console.error(`${c.req.method} ${new URL(c.req.url).pathname} failed:`, error);
  if (isD1Failure(error)) {
    return c.json(errorBody("storage_unavailable", "the history database is not answering right now; try again shortly"), 503, {
      "retry-after": "5",
    });
  }
  return c.json(errorBody("internal_error", "something went wrong on our side; it has been logged"), 500);
}

export function notFound(c: Context): Response {
  return c.json(errorBody("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404);
}
