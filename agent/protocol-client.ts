/**
 * The agent protocol's routes (domain/protocol.ts), on top of the retrying HTTP client, with
 * the meaning of each answer:
 *  - agent level (register, claim, heartbeat): 401 → UnauthorizedError; transient answers are
 *    retried (claims for ever, capped at ~30 s between tries).
 *  - job level (job token): transient answers are retried (capped at ~10 s); 409 `log_gap` →
 *    LogGapError; any other 4xx → JobRejectedError (the server no longer accepts this job),
 *    except where the caller says a refusal concerns one item (an artifact) rather than the job.
 */
import { z } from "zod";
import { Readable } from "node:stream";
import { CACHE_CONTENT_TYPES, type CacheFormat, CacheLookup, CachePartAck, CacheSaved, type CacheUploadComplete, CacheUploadStart } from "../domain/caches.ts";
import {
  ArtifactPartAck,
  ArtifactUploadStart,
  JobAssignment,
  JobHeartbeatResponse,
  JobReportAnswer,
  LogAck,
  RegisterResponse,
  type AgentHeartbeat,
  type ClaimRequest,
  type JobFinish,
  type JobReport,
  type RegisterRequest,
  type StepUpdate,
} from "../domain/protocol.ts";
import { PipelineUploadResponse, UploadProblem } from "../domain/pipeline-upload.ts";
import { describeStatus, errorBody, isTransientStatus, type HttpClient, type HttpResponse, type RequestSpec, type RetryPolicy } from "./client.ts";

export const CLAIM_RETRY: RetryPolicy = { baseMs: 1000, capMs: 30_000 };
export const JOB_RETRY: RetryPolicy = { baseMs: 250, capMs: 10_000 };

/**
 * Error codes that mean an administrator revoked this agent (or its registration token): the
 * agent stops for good (exit 3) instead of registering again.
 */
export const REVOKED_CODES: ReadonlySet<string> = new Set(["agent_revoked", "registration_token_revoked"]);

/** An answer from the server the caller must act on: its HTTP status and error code. */
export class ServerAnswerError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(message: string, status: number, code = "") {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The server refused the agent token (or the registration token); `code` says why. */
export class UnauthorizedError extends ServerAnswerError {
  override readonly name = "UnauthorizedError";

  get revoked(): boolean {
    return REVOKED_CODES.has(this.code);
  }
}

/** An answer the agent cannot act on (a 4xx on an agent-level call, a malformed body). */
export class ProtocolError extends ServerAnswerError {
  override readonly name = "ProtocolError";
}

/** The server no longer accepts this job (410 job_ended, 409 illegal transition, 401, 404…). */
export class JobRejectedError extends ServerAnswerError {
  override readonly name = "JobRejectedError";
}

/** 409 `log_gap`: resend from `ack`. */
export class LogGapError extends Error {
  readonly ack: LogAck;
  constructor(ack: LogAck) {
    super(`log gap: server expects seq ${ack.nextSeq} at offset ${ack.nextOffset}`);
    this.name = "LogGapError";
    this.ack = ack;
  }
}

/**
 * A 409 about one step update (not the job): `job_cancelling` (the job is being cancelled:
 * start nothing new), or an update the server's state machine does not take.
 */
export class StepConflictError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.name = "StepConflictError";
    this.code = code;
  }
}

/** A 4xx about one item (e.g. an artifact refused for its size or checksum), not the job. */
export class ItemRefusedError extends ServerAnswerError {
  override readonly name = "ItemRefusedError";
}

function parseJson<T>(schema: z.ZodType<T>, res: HttpResponse, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(res.body.toString("utf8"));
  } catch {
    throw new ProtocolError(`${what}: the answer is not JSON`, res.status);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ProtocolError(`${what}: unexpected answer: ${parsed.error.message}`, res.status);
  return parsed.data;
}

/** What a claim brought back: a job, nothing (204), or a job the agent cannot read. */
export type ClaimResult =
  | { kind: "job"; assignment: JobAssignment }
  | { kind: "none" }
  | { kind: "invalid"; error: string; raw: unknown };

export class AgentApi {
  readonly http: HttpClient;
  /** Retry policy of job-level calls (tests shorten it). */
  readonly jobRetry: RetryPolicy;
  constructor(http: HttpClient, options: { jobRetry?: RetryPolicy } = {}) {
    this.http = http;
    this.jobRetry = options.jobRetry ?? JOB_RETRY;
  }

  async register(registrationToken: string, body: RegisterRequest, signal?: AbortSignal): Promise<RegisterResponse> {
    const { response } = await this.http.request(
      { method: "POST", path: "/register", bearer: registrationToken, json: body, signal },
      CLAIM_RETRY,
    );
    if (response.status === 401 || response.status === 403) {
      throw new UnauthorizedError(`registration refused: ${describeStatus(response)}`, response.status, errorBody(response)?.code);
    }
    if (response.status !== 200 && response.status !== 201) {
      throw new ProtocolError(`registration failed: ${describeStatus(response)}`, response.status);
    }
    return parseJson(RegisterResponse, response, "register");
  }

  async claim(agentToken: string, body: ClaimRequest, signal?: AbortSignal, policy: RetryPolicy = CLAIM_RETRY): Promise<ClaimResult> {
    const { response } = await this.http.request(
      {
        method: "POST",
        path: "/claim",
        bearer: agentToken,
        json: body,
        signal,
        // The server holds the claim up to waitSeconds: allow for that and some slack.
        timeoutMs: (body.waitSeconds ?? 25) * 1000 + 20_000,
      },
      policy,
    );
    if (response.status === 204) return { kind: "none" };
    if (response.status === 401 || response.status === 403) {
      throw new UnauthorizedError(`claim refused: ${describeStatus(response)}`, response.status, errorBody(response)?.code);
    }
    if (response.status !== 200) throw new ProtocolError(`claim failed: ${describeStatus(response)}`, response.status);
    let raw: unknown;
    try {
      raw = JSON.parse(response.body.toString("utf8"));
    } catch {
      return { kind: "invalid", error: "the assignment is not JSON", raw: undefined };
    }
    const parsed = JobAssignment.safeParse(raw);
    if (!parsed.success) return { kind: "invalid", error: parsed.error.message, raw };
    return { kind: "job", assignment: parsed.data };
  }

  /** The agent is shutting down cleanly (best effort, one try). */
  async stop(agentToken: string, signal?: AbortSignal): Promise<void> {
    await this.http.request(
      { method: "POST", path: "/stop", bearer: agentToken, json: {}, signal, timeoutMs: 5000 },
      { capMs: 1000, maxTries: 1 },
    );
  }

  /** One try: a missed agent heartbeat is simply sent again at the next interval. */
  async heartbeat(agentToken: string, body: AgentHeartbeat, signal?: AbortSignal): Promise<void> {
    const { response } = await this.http.request(
      { method: "POST", path: "/heartbeat", bearer: agentToken, json: body, signal, timeoutMs: 15_000 },
      { capMs: 1000, maxTries: 1 },
    );
    if (response.status === 401 || response.status === 403) {
      throw new UnauthorizedError(`heartbeat refused: ${describeStatus(response)}`, response.status, errorBody(response)?.code);
    }
    if (response.status >= 300) throw new ProtocolError(`heartbeat failed: ${describeStatus(response)}`, response.status);
  }

  job(token: string, attemptId: string): JobApi {
    return new JobApi(this.http, token, attemptId, this.jobRetry);
  }
}

export type PipelineUploadAnswer =
  | { ok: true; value: PipelineUploadResponse }
  | { ok: false; status: number; code: string; message: string; problems?: UploadProblem[] };


interface JobCallOptions {
  /**
   * The call is idempotent in effect: when an earlier try may have reached the server (a
   * lost answer), a 409/410 on a later try means "already done", not "job refused".
   */
  alreadyDoneOnRetry?: boolean;
  /** Statuses that refuse the item rather than the job (→ ItemRefusedError). */
  itemStatuses?: readonly number[];
  /** A 409 refuses this step update, not the job (→ StepConflictError). */
  stepConflicts?: boolean;
  policy?: RetryPolicy;
}

export class JobApi {
  readonly http: HttpClient;
  readonly token: string;
  readonly attemptId: string;
  private readonly prefix: string;
  private readonly retry: RetryPolicy;

  constructor(http: HttpClient, token: string, attemptId: string, retry: RetryPolicy = JOB_RETRY) {
    this.http = http;
    this.token = token;
    this.attemptId = attemptId;
    this.retry = retry;
    this.prefix = `/jobs/${encodeURIComponent(attemptId)}`;
  }

  private async call(spec: Omit<RequestSpec, "bearer">, options: JobCallOptions = {}): Promise<HttpResponse> {
    const { response, tries } = await this.http.request({ ...spec, bearer: this.token }, options.policy ?? this.retry);
    const status = response.status;
    if (status >= 200 && status < 300) return response;
    const err = errorBody(response);
    if (status === 409 && err?.code === "log_gap") {
      const ack = LogAck.safeParse(err.details);
      if (ack.success) throw new LogGapError(ack.data);
      throw new JobRejectedError(`log_gap without a usable LogAck: ${describeStatus(response)}`, status, "log_gap");
    }
    if (options.alreadyDoneOnRetry && tries > 1 && (status === 409 || status === 410)) return response;
    if (options.stepConflicts && status === 409) throw new StepConflictError(describeStatus(response), err?.code ?? "");
    if (options.itemStatuses?.includes(status)) throw new ItemRefusedError(describeStatus(response), status);
    if (isTransientStatus(status)) {
      throw new ProtocolError(`${spec.method} ${spec.path.split("?")[0]}: ${describeStatus(response)}`, status);
    }
    throw new JobRejectedError(`${spec.method} ${spec.path.split("?")[0]}: ${describeStatus(response)}`, status, err?.code ?? "");
  }

  /** One try (the next interval tries again); a refusal still rejects the job. */
  async heartbeat(signal?: AbortSignal): Promise<JobHeartbeatResponse> {
    const res = await this.call(
      { method: "POST", path: `${this.prefix}/heartbeat`, json: {}, signal, timeoutMs: 15_000 },
      { policy: { capMs: 1000, maxTries: 1 } },
    );
    return parseJson(JobHeartbeatResponse, res, "job heartbeat");
  }

  async step(stepId: string, update: StepUpdate, signal?: AbortSignal): Promise<void> {
    await this.call(
      { method: "POST", path: `${this.prefix}/steps/${encodeURIComponent(stepId)}`, json: update, signal },
      { alreadyDoneOnRetry: true, stepConflicts: true },
    );
  }

  async log(seq: number, offset: number, bytes: Buffer, signal?: AbortSignal): Promise<LogAck> {
    const res = await this.call({
      method: "POST",
      path: `${this.prefix}/logs?seq=${seq}&offset=${offset}`,
      body: bytes,
      contentType: "application/octet-stream",
      signal,
    });
    return parseJson(LogAck, res, "log chunk");
  }

  async putArtifact(
    meta: { name: string; sha256: string; size: number; contentType: string },
    body: () => Readable,
    signal?: AbortSignal,
  ): Promise<void> {
    const q = new URLSearchParams({ name: meta.name, sha256: meta.sha256, size: String(meta.size), contentType: meta.contentType });
    await this.call(
      {
        method: "PUT",
        path: `${this.prefix}/artifacts?${q}`,
        body,
        contentLength: meta.size,
        contentType: meta.contentType,
        signal,
        timeoutMs: 120_000,
      },
      { itemStatuses: ITEM_STATUSES, alreadyDoneOnRetry: true },
    );
  }

  /** Without `sha256`, the complete gives it (protocol 2's servers); `partSize` asks for a part size. */
  async startUpload(
    meta: { name: string; sha256?: string; size: number; contentType: string; partSize?: number },
    signal?: AbortSignal,
  ): Promise<ArtifactUploadStart> {
    const res = await this.call(
      { method: "POST", path: `${this.prefix}/artifact-uploads`, json: meta, signal },
      { itemStatuses: ITEM_STATUSES },
    );
    return parseJson(ArtifactUploadStart, res, "artifact upload");
  }

  async putPart(uploadId: string, partNumber: number, size: number, body: () => Readable, signal?: AbortSignal): Promise<string> {
    const res = await this.call(
      {
        method: "PUT",
        path: `${this.prefix}/artifact-uploads/${encodeURIComponent(uploadId)}/parts/${partNumber}`,
        body,
        contentLength: size,
        contentType: "application/octet-stream",
        signal,
        timeoutMs: 120_000,
      },
      { itemStatuses: ITEM_STATUSES },
    );
    return parseJson(ArtifactPartAck, res, "artifact part").etag;
  }

  async completeUpload(uploadId: string, parts: { partNumber: number; etag: string }[], signal?: AbortSignal, sha256?: string): Promise<void> {
    await this.call(
      {
        method: "POST",
        path: `${this.prefix}/artifact-uploads/${encodeURIComponent(uploadId)}/complete`,
        json: { parts, ...(sha256 ? { sha256 } : {}) },
        signal,
      },
      { itemStatuses: ITEM_STATUSES, alreadyDoneOnRetry: true },
    );
  }

  /**
   * `yardmaster-agent pipeline upload`: the server's answer as a value (a refusal is the
   * subcommand's to print, not a reason to stop the job). Transient failures are retried a
   * bounded number of times; the same file again is a no-op on the server, so a retry is safe.
   */
  async uploadPipeline(text: string, signal?: AbortSignal): Promise<PipelineUploadAnswer> {
    const { response } = await this.http.request(
      { method: "POST", path: `${this.prefix}/pipeline`, bearer: this.token, body: Buffer.from(text, "utf8"), contentType: "text/plain; charset=utf-8", signal },
      { ...this.retry, maxTries: 8 },
    );
    if (response.status === 200) return { ok: true, value: parseJson(PipelineUploadResponse, response, "pipeline upload") };
    const err = errorBody(response);
    const problems = z.object({ problems: z.array(UploadProblem) }).safeParse(err?.details);
    return {
      ok: false,
      status: response.status,
      code: err?.code ?? "",
      message: err?.message || describeStatus(response),
      ...(problems.success ? { problems: problems.data.problems } : {}),
    };
  }

  /** Which cache entry to restore for `key` (else the newest under a restore key), if any. */
  async lookupCache(key: string, restoreKeys: readonly string[], signal?: AbortSignal): Promise<CacheLookup> {
    const q = new URLSearchParams({ key });
    if (restoreKeys.length > 0) q.set("restore", restoreKeys.join(","));
    const res = await this.call({ method: "GET", path: `${this.prefix}/cache?${q}`, signal }, { itemStatuses: ITEM_STATUSES, policy: CACHE_RETRY });
    return parseJson(CacheLookup, res, "cache lookup");
  }

  /** A cache entry's bytes, streamed (the HttpClient buffers answers: this one can be large). */
  async downloadCache(entry: string, signal?: AbortSignal): Promise<Readable> {
    const res = await fetch(`${this.http.base}${this.prefix}/cache/${encodeURIComponent(entry)}`, {
      headers: { authorization: `Bearer ${this.token}` },
      ...(signal ? { signal } : {}),
    });
    if (!res.ok || !res.body) throw new ItemRefusedError(`cache download: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`, res.status);
    return Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
  }

  async putCache(meta: { key: string; size: number; sha256: string; format: CacheFormat }, body: () => Readable, signal?: AbortSignal): Promise<CacheSaved> {
    const q = new URLSearchParams({ key: meta.key, size: String(meta.size), sha256: meta.sha256, format: meta.format });
    const contentType = CACHE_CONTENT_TYPES[meta.format];
    const res = await this.call(
      { method: "PUT", path: `${this.prefix}/cache?${q}`, body, contentLength: meta.size, contentType, signal, timeoutMs: 120_000 },
      { itemStatuses: ITEM_STATUSES, policy: CACHE_RETRY },
    );
    return parseJson(CacheSaved, res, "cache upload");
  }

  /** A multipart cache save (entries over one part): its upload id, part size and the entry limit. */
  async startCacheUpload(key: string, format: CacheFormat, signal?: AbortSignal): Promise<CacheUploadStart> {
    const res = await this.call({ method: "POST", path: `${this.prefix}/cache-uploads`, json: { key, format }, signal }, { itemStatuses: ITEM_STATUSES, policy: CACHE_RETRY });
    return parseJson(CacheUploadStart, res, "cache upload");
  }

  async putCachePart(uploadId: string, partNumber: number, bytes: Buffer, signal?: AbortSignal): Promise<string> {
    const path = `${this.prefix}/cache-uploads/${encodeURIComponent(uploadId)}/parts/${partNumber}`;
    const res = await this.call(
      { method: "PUT", path, body: bytes, contentType: "application/octet-stream", signal, timeoutMs: 120_000 },
      { itemStatuses: ITEM_STATUSES, policy: CACHE_RETRY },
    );
    return parseJson(CachePartAck, res, "cache part").etag;
  }

  async completeCacheUpload(uploadId: string, body: CacheUploadComplete, signal?: AbortSignal): Promise<CacheSaved> {
    const path = `${this.prefix}/cache-uploads/${encodeURIComponent(uploadId)}/complete`;
    const res = await this.call({ method: "POST", path, json: body, signal, timeoutMs: 300_000 }, { itemStatuses: ITEM_STATUSES, policy: CACHE_RETRY });
    return parseJson(CacheSaved, res, "cache upload");
  }

  /** Drops an unfinished multipart save (best effort: R2 also expires uploads never completed). */
  async abortCacheUpload(uploadId: string): Promise<void> {
    const path = `${this.prefix}/cache-uploads/${encodeURIComponent(uploadId)}`;
    await this.call({ method: "DELETE", path }, { itemStatuses: ITEM_STATUSES, policy: { capMs: 1000, maxTries: 2 } });
  }

  /**
   * Protocol 2: a log chunk (when `log` is given), step updates and the finish in one call
   * (domain/protocol.ts JobReport). A report that finishes the job is done once the server has
   * it: a 409/410 on a retry means an earlier try's answer was lost.
   */
  async report(report: JobReport, log: { seq: number; offset: number; bytes: Buffer } | undefined, signal?: AbortSignal): Promise<JobReportAnswer> {
    const line = Buffer.from(`${JSON.stringify(report)}\n`, "utf8");
    const res = await this.call(
      {
        method: "POST",
        v2: true,
        path: `${this.prefix}/report${log ? `?seq=${log.seq}&offset=${log.offset}` : ""}`,
        body: log ? Buffer.concat([line, log.bytes]) : line,
        contentType: "application/octet-stream",
        signal,
      },
      { alreadyDoneOnRetry: report.finish !== undefined },
    );
    // The finish's retry that found the job already finished: its answer is an error body.
    if (res.status === 409 || res.status === 410) return { cancel: false, steps: report.steps.map(() => ({ ok: true })), finished: true };
    return parseJson(JobReportAnswer, res, "job report");
  }

  async finish(body: JobFinish, signal?: AbortSignal): Promise<void> {
    await this.call({ method: "POST", path: `${this.prefix}/finish`, json: body, signal }, { alreadyDoneOnRetry: true });
  }
}

/**
 * Refusals of one artifact: bad request (name, size, checksum mismatch), unknown upload, name
 * already taken with other content, too large, unprocessable.
 */
const ITEM_STATUSES = [400, 404, 409, 413, 422] as const;
/** A cache is an optimisation: a few tries, then the job goes on without it. */
const CACHE_RETRY: RetryPolicy = { capMs: 2000, maxTries: 3 };
