/**
 * HTTP transport for the agent protocol: one request over node:http(s) (streamed bodies with
 * a content-length, an idle timeout, abortable), and `request`, which retries what is worth
 * retrying — network errors, 5xx, 408 and 429 — with exponential backoff and jitter, honouring
 * Retry-After. Every other status is returned to the caller, which knows what it means.
 */
import type { ErrorBody } from "../domain/views.ts";
import http from "node:http";
import https from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import { AbortError, Backoff, isAbortError, sleep, throwIfAborted } from "./backoff.ts";
import type { Logger } from "./logger.ts";
import { AGENT_API_BASE, AGENT_API_V2_BASE } from "../domain/protocol.ts";

/** The request never got an HTTP answer: DNS, refused, reset, timed out. Always retryable. */
export class NetworkError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NetworkError";
  }
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** What an error answer says (domain/views.ts `ErrorBody`, the API's one error shape). */
export type ErrorDetail = ErrorBody["error"];

/** The `{error: {code, message, details}}` body of an error answer, when it has one. */
export function errorBody(res: HttpResponse): ErrorDetail | undefined {
  try {
    const parsed = JSON.parse(res.body.toString("utf8")) as { error?: Partial<ErrorDetail> };
    const e = parsed?.error;
    if (e && typeof e === "object") {
      return { code: String(e.code ?? ""), message: String(e.message ?? ""), details: e.details };
    }
  } catch {
    // not JSON: fine, fall through
  }
  return undefined;
}

export function describeStatus(res: HttpResponse): string {
  const e = errorBody(res);
  return e ? `HTTP ${res.status} ${e.code}: ${e.message}` : `HTTP ${res.status}`;
}

export function isTransientStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

export interface RequestSpec {
  method: string;
  /** Path under the agent API base, with its query string, e.g. `/jobs/x/logs?seq=0&offset=0`. */
  path: string;
  /** A route of protocol 2 (under /api/agent/v2 instead of /api/agent/v1). */
  v2?: boolean;
  bearer: string;
  /** A JSON body. */
  json?: unknown;
  /** A raw body, or a factory for a fresh stream per try (so a retry can start over). */
  body?: Buffer | (() => Readable);
  contentType?: string;
  /** Required with a stream body. */
  contentLength?: number;
  /** Idle timeout of the socket, ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RetryPolicy {
  baseMs?: number;
  capMs: number;
  /** Give up after this many tries (default: never). */
  maxTries?: number;
  /** Tests: jitter source. */
  random?: () => number;
}

export interface Retried {
  response: HttpResponse;
  /** How many tries it took; > 1 means an earlier try may have reached the server. */
  tries: number;
}

const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

export interface HttpClientOptions {
  /** The server's origin, e.g. https://ym.example.com (a trailing /api/agent/v1 is accepted). */
  url: string;
  logger: Logger;
  userAgent?: string;
  defaultTimeoutMs?: number;
}

export class HttpClient {
  readonly base: string;
  private readonly logger: Logger;
  private readonly userAgent: string;
  private readonly defaultTimeoutMs: number;
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent = new https.Agent({ keepAlive: true });

  constructor(options: HttpClientOptions) {
    let base = options.url.replace(/\/+$/, "");
    if (!base.endsWith(AGENT_API_BASE)) base += AGENT_API_BASE;
    this.base = base;
    this.logger = options.logger;
    this.userAgent = options.userAgent ?? "yardmaster-agent";
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
  }

  /** Closes idle keep-alive sockets (so the process can exit promptly). */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** One try. Rejects with NetworkError (no answer), AbortError, or the body stream's own error. */
  send(spec: RequestSpec): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      if (spec.signal?.aborted) {
        reject(new AbortError());
        return;
      }
      const url = new URL((spec.v2 ? this.base.slice(0, -AGENT_API_BASE.length) + AGENT_API_V2_BASE : this.base) + spec.path);
      const isHttps = url.protocol === "https:";
      const headers: Record<string, string> = {
        authorization: `Bearer ${spec.bearer}`,
        accept: "application/json",
        "user-agent": this.userAgent,
      };
      let payload: Buffer | undefined;
      if (spec.json !== undefined) {
        payload = Buffer.from(JSON.stringify(spec.json), "utf8");
        headers["content-type"] = "application/json";
      } else if (Buffer.isBuffer(spec.body)) {
        payload = spec.body;
        headers["content-type"] = spec.contentType ?? "application/octet-stream";
      } else if (spec.body) {
        if (spec.contentLength === undefined) throw new Error("a streamed body needs a contentLength");
        headers["content-type"] = spec.contentType ?? "application/octet-stream";
        headers["content-length"] = String(spec.contentLength);
      }
      if (payload) headers["content-length"] = String(payload.length);
      else if (!spec.body) headers["content-length"] = "0";

      let settled = false;
      let localError: unknown;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        if (localError !== undefined) reject(localError);
        else if (spec.signal?.aborted || isAbortError(err)) reject(new AbortError());
        else reject(new NetworkError((err as Error)?.message ?? String(err), { cause: err }));
      };

      const req = (isHttps ? https : http).request(url, {
        method: spec.method,
        headers,
        agent: isHttps ? this.httpsAgent : this.httpAgent,
        signal: spec.signal,
      });
      req.setTimeout(spec.timeoutMs ?? this.defaultTimeoutMs, () => {
        req.destroy(new Error(`no answer within ${spec.timeoutMs ?? this.defaultTimeoutMs} ms`));
      });
      req.on("error", fail);
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy(new Error("response too large"));
            return;
          }
          chunks.push(chunk);
        });
        res.on("error", fail);
        res.on("close", () => {
          if (!res.complete) fail(new Error("connection closed before the answer was complete"));
        });
        res.on("end", () => {
          if (settled) return;
          settled = true;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
      });

      if (spec.body && !Buffer.isBuffer(spec.body)) {
        let stream: Readable;
        try {
          stream = spec.body();
        } catch (err) {
          localError = err;
          req.destroy(err as Error);
          return;
        }
        stream.on("error", (err) => {
          // A local read error is not the network's fault: do not retry it forever.
          localError = err;
          req.destroy(err);
        });
        req.on("close", () => stream.destroy());
        stream.pipe(req);
      } else {
        req.end(payload);
      }
    });
  }

  /**
   * Sends until the answer is not transient (network error, 5xx, 408, 429), backing off
   * between tries; returns that answer with the number of tries. With maxTries, the last
   * transient answer is returned (or its NetworkError thrown).
   */
  async request(spec: RequestSpec, policy: RetryPolicy): Promise<Retried> {
    const backoff = new Backoff({ baseMs: policy.baseMs ?? 500, capMs: policy.capMs, random: policy.random });
    let tries = 0;
    for (;;) {
      throwIfAborted(spec.signal);
      tries += 1;
      let problem: string;
      let retryAfterMs = 0;
      try {
        const response = await this.send(spec);
        if (!isTransientStatus(response.status)) return { response, tries };
        if (policy.maxTries !== undefined && tries >= policy.maxTries) return { response, tries };
        problem = describeStatus(response);
        retryAfterMs = parseRetryAfter(response.headers["retry-after"]);
      } catch (err) {
        if (!(err instanceof NetworkError)) throw err;
        if (policy.maxTries !== undefined && tries >= policy.maxTries) throw err;
        problem = err.message;
      }
      const delay = Math.max(backoff.next(), Math.min(retryAfterMs, policy.capMs));
      this.logger.warn(`${spec.method} ${pathOnly(spec.path)}: ${problem}; retrying in ${formatMs(delay)}`);
      await sleep(delay, spec.signal);
    }
  }
}

export function parseRetryAfter(value: string | string[] | undefined): number {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return 0;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}

function pathOnly(path: string): string {
  const q = path.indexOf("?");
  return q === -1 ? path : path.slice(0, q);
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
