/**
 * The dashboard's only door to the REST API. The session cookie (HttpOnly, set by
 * POST /api/v1/session) authenticates every call; the token itself is never in JavaScript's
 * reach after sign-in. Every mutating call sends a JSON body (`{}` when there is nothing to
 * say), so a cross-site form can never make one (docs/dashboard.md, "Auth and CSRF").
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Called whenever the API answers 401: the session ended (token revoked, expired, signed out). */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  let details: unknown;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string; details?: unknown } };
    if (body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
      details = body.error.details;
    }
  } catch {
    // not JSON
  }
  return new ApiError(response.status, code, message, details);
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Send this text as-is (a pipeline file) instead of JSON. */
  text?: string;
  /** Further request headers (a log's `range`). */
  headers?: Record<string, string>;
}

/** A raw response after the status check (for streamed bodies: logs). */
export async function apiResponse(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  let payload: string | undefined;
  if (options.text !== undefined) {
    headers["content-type"] = "text/plain; charset=utf-8";
    payload = options.text;
  } else if (method !== "GET" && method !== "HEAD") {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body ?? {});
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin", signal: options.signal });
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 && !path.startsWith("/api/v1/session")) for (const l of unauthorizedListeners) l();
    throw error;
  }
  return response;
}

export async function api<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
  const response = await apiResponse(method, path, body, options);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => api<T>("GET", path, undefined, { signal });

/** Builds `path?query`, leaving out empty values. */
export function withQuery(path: string, query: Record<string, string | number | null | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}
