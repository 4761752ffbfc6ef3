/**
 * A small real HTTP server speaking the server side of the agent protocol (domain/protocol.ts),
 * for the agent's tests: registration, claims (long-poll), heartbeats, step updates, logs with
 * seq/offset semantics (duplicates stored once, gaps refused with 409 log_gap), artifacts
 * (checksum checked) with multipart uploads, and finish. Faults can be injected per route.
 */
import { createHash, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { step } from "../../support/pipelines.ts";
import {
  AGENT_API_BASE,
  JobFinish,
  RegisterRequest,
  StepUpdate,
  type JobAssignment,
  type LogAck,
} from "../../../domain/protocol.ts";

export interface StepRecord extends StepUpdate {
  stepId: string;
  at: number;
}

export interface LogRequest {
  seq: number;
  offset: number;
  length: number;
  status: number;
}

export interface ArtifactRecord {
  name: string;
  sha256: string;
  size: number;
  contentType: string;
  body: Buffer;
  multipart: boolean;
  /** A multipart upload whose SHA-256 came with its complete (protocol 2: the file read once), not its start. */
  sha256AtComplete?: boolean;
}

export interface JobRecord {
  assignment: JobAssignment;
  steps: StepRecord[];
  log: Buffer;
  chunks: number;
  logRequests: LogRequest[];
  heartbeats: number;
  cancel: boolean;
  artifacts: Map<string, ArtifactRecord>;
  finish?: JobFinish;
  finishedAt?: number;
  uploads: Map<string, { name: string; size: number; sha256: string; contentType: string; parts: Map<number, Buffer>; sha256AtComplete?: boolean }>;
}

/** What to do with one log request (n counts log requests of the job from 0). */
export type LogFault =
  | "ok"
  /** Store the chunk, then answer 503 (the answer is lost: the agent must resend). */
  | "store-then-503"
  /** Answer 503 without storing. */
  | "503"
  /** Store only the first `partial` bytes and acknowledge just those. */
  | { partial: number }
  /** Answer 409 log_gap claiming the log ends `back` bytes before where the chunk starts... if those were not yet acknowledged. */
  | "gap";

export class ProtocolServer {
  url = "";
  readonly jobs = new Map<string, JobRecord>();
  readonly registrationTokens = new Set<string>(["reg-token"]);
  readonly agentTokens = new Set<string>();
  /** Revoked by an administrator: answered 401 `agent_revoked` / `registration_token_revoked`. */
  readonly revokedAgentTokens = new Set<string>();
  readonly revokedRegistrationTokens = new Set<string>();
  registrations: RegisterRequest[] = [];
  claims = 0;
  agentHeartbeats: string[][] = [];
  stops = 0;
  /** Answers to the next claims, before normal processing: a status to return, or "drop". */
  claimFaults: (number | "drop")[] = [];
  /** Per job: decides each log request's fate. */
  logFault: (attemptId: string, n: number, seq: number, offset: number, length: number) => LogFault = () => "ok";
  /** Answers for the next step updates (e.g. 410, or 409 with a code), before processing. */
  stepFaults: (number | { status: number; code: string })[] = [];
  heartbeatIntervalMs = 100;
  /** Files sent by `yardmaster-agent pipeline upload`, in order. */
  pipelineUploads: { attemptId: string; text: string; contentType: string | undefined }[] = [];
  /** The answer to a pipeline upload (default: every job of the file added, by a naive key scan). */
  pipelineAnswer: (text: string) => { status: number; body: unknown } = (text) => ({
    status: 200,
    body: { added: [...text.matchAll(/^ {2}([A-Za-z0-9_-]+):/gm)].map((m) => m[1]), unchanged: [] },
  });
  /** More job routes a test adds (e.g. ./run-artifacts-routes.ts): true when one answered. */
  jobRoutes: ((job: JobRecord, call: { method: string; rest: string; url: URL; res: http.ServerResponse }) => boolean | Promise<boolean>)[] = [];
  private queue: JobAssignment[] = [];
  private waiters: (() => void)[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<import("node:net").Socket>();

  constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        Promise.resolve(this.route(req, res, Buffer.concat(chunks))).catch((err) => {
          if (!res.headersSent) json(res, 500, { error: { code: "test_server", message: String(err) } });
        });
      });
    });
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const w of this.waiters) w();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Revokes every agent token handed out so far; a claim held open is answered at once. */
  revokeAgents(): void {
    for (const t of this.agentTokens) this.revokedAgentTokens.add(t);
    this.agentTokens.clear();
    for (const w of this.waiters.splice(0)) w();
  }

  /** The refusal of an agent token: revoked, or unknown. */
  private refuseAgent(res: http.ServerResponse, bearer: string): void {
    if (this.revokedAgentTokens.has(bearer)) return json(res, 401, err("agent_revoked", "this agent was revoked by an administrator"));
    return json(res, 401, err("invalid_agent_token", "the agent token is unknown or revoked; register again"));
  }

  /** Queues a job for the next claim and returns its record. */
  enqueue(assignment: JobAssignment): JobRecord {
    const record = this.addJob(assignment);
    this.queue.push(assignment);
    for (const w of this.waiters.splice(0)) w();
    return record;
  }

  /** Makes a job known to the server without queueing it (the job routes accept its token). */
  addJob(assignment: JobAssignment): JobRecord {
    const record: JobRecord = {
      assignment,
      steps: [],
      log: Buffer.alloc(0),
      chunks: 0,
      logRequests: [],
      heartbeats: 0,
      cancel: false,
      artifacts: new Map(),
      uploads: new Map(),
    };
    this.jobs.set(assignment.job.attemptId, record);
    return record;
  }

  job(attemptId: string): JobRecord {
    const j = this.jobs.get(attemptId);
    if (!j) throw new Error(`no job ${attemptId}`);
    return j;
  }

  /** Resolves when the job has finished (or rejects after `ms`). */
  async waitForFinish(attemptId: string, ms = 10_000): Promise<JobFinish> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const f = this.jobs.get(attemptId)?.finish;
      if (f) return f;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`job ${attemptId} did not finish within ${ms} ms`);
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    if (!url.pathname.startsWith(AGENT_API_BASE)) return json(res, 404, err("not_found", "no such route"));
    const path = url.pathname.slice(AGENT_API_BASE.length);
    const bearer = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    const method = req.method ?? "GET";

    if (method === "POST" && path === "/register") {
      if (this.revokedRegistrationTokens.has(bearer)) return json(res, 401, err("registration_token_revoked", "the registration token was revoked"));
      if (!this.registrationTokens.has(bearer)) return json(res, 401, err("invalid_registration_token", "bad registration token"));
      const parsed = RegisterRequest.safeParse(JSON.parse(body.toString()));
      if (!parsed.success) return json(res, 400, err("invalid", parsed.error.message));
      this.registrations.push(parsed.data);
      const token = `agent-token-${this.registrations.length}-${randomUUID()}`;
      this.agentTokens.add(token);
      return json(res, 201, {
        agentId: `agent-${this.registrations.length}`,
        token,
        queue: "default",
        heartbeatIntervalMs: 1000,
        lostAfterMs: 30_000,
      });
    }
    if (method === "POST" && path === "/claim") {
      this.claims += 1;
      const fault = this.claimFaults.shift();
      if (fault === "drop") {
        req.socket.destroy();
        return;
      }
      if (fault !== undefined) return json(res, fault, err("fault", `injected ${fault}`));
      if (!this.agentTokens.has(bearer)) return this.refuseAgent(res, bearer);
      const { waitSeconds = 25 } = JSON.parse(body.toString() || "{}") as { waitSeconds?: number };
      if (this.queue.length === 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, waitSeconds * 1000);
          this.waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
          res.on("close", () => clearTimeout(t));
        });
      }
      if (!this.agentTokens.has(bearer)) return this.refuseAgent(res, bearer); // revoked while held
      const job = this.queue.shift();
      if (!job) {
        res.writeHead(204).end();
        return;
      }
      if (res.destroyed || req.socket.destroyed) {
        this.queue.unshift(job); // the agent hung up: the job was not delivered
        return;
      }
      return json(res, 200, job);
    }
    if (method === "POST" && path === "/stop") {
      if (!this.agentTokens.has(bearer)) return this.refuseAgent(res, bearer);
      this.stops += 1;
      return json(res, 200, { ok: true });
    }
    if (method === "POST" && path === "/heartbeat") {
      if (!this.agentTokens.has(bearer)) return this.refuseAgent(res, bearer);
      this.agentHeartbeats.push((JSON.parse(body.toString()) as { jobs: string[] }).jobs);
      return json(res, 200, {});
    }

    const m = /^\/jobs\/([^/]+)(\/.*)$/.exec(path);
    if (!m) return json(res, 404, err("not_found", "no such route"));
    const job = this.jobs.get(decodeURIComponent(m[1]!));
    if (!job || job.assignment.token !== bearer) return json(res, 401, err("unauthorized", "bad job token"));
    if (job.finish) return json(res, 410, err("job_ended", "the job attempt has ended"));
    const rest = m[2]!;

    if (method === "POST" && rest === "/heartbeat") {
      job.heartbeats += 1;
      return json(res, 200, { cancel: job.cancel });
    }
    const stepMatch = /^\/steps\/([^/]+)$/.exec(rest);
    if (method === "POST" && stepMatch) {
      const fault = this.stepFaults.shift();
      if (typeof fault === "number") return json(res, fault, err(fault === 410 ? "job_ended" : "fault", "injected"));
      if (fault) return json(res, fault.status, err(fault.code, "injected"));
      const parsed = StepUpdate.safeParse(JSON.parse(body.toString()));
      if (!parsed.success) return json(res, 400, err("invalid", parsed.error.message));
      job.steps.push({ ...parsed.data, stepId: decodeURIComponent(stepMatch[1]!), at: Date.now() });
      return json(res, 200, {});
    }
    if (method === "POST" && rest === "/logs") {
      if (req.headers["content-type"] !== "application/octet-stream") return json(res, 415, err("type", "octet-stream please"));
      return this.handleLog(job, url, body, res);
    }
    if (method === "PUT" && rest === "/artifacts") {
      const name = url.searchParams.get("name")!;
      const sha256 = url.searchParams.get("sha256")!;
      const size = Number(url.searchParams.get("size"));
      if (Number(req.headers["content-length"]) !== size) return json(res, 400, err("size", "content-length ≠ size"));
      if (body.length !== size) return json(res, 400, err("size_mismatch", "size"));
      if (createHash("sha256").update(body).digest("hex") !== sha256) return json(res, 400, err("sha256_mismatch", "checksum"));
      job.artifacts.set(name, { name, sha256, size, contentType: url.searchParams.get("contentType")!, body, multipart: false });
      return json(res, 201, { id: randomUUID() });
    }
    if (method === "POST" && rest === "/artifact-uploads") {
      // Protocol 2's agents may ask for a part size, and give the sha256 with the complete.
      const { partSize = this.partSize, ...meta } = JSON.parse(body.toString()) as { name: string; size: number; sha256?: string; contentType: string; partSize?: number };
      const uploadId = randomUUID();
      job.uploads.set(uploadId, { ...meta, sha256: meta.sha256 ?? "", parts: new Map() });
      return json(res, 201, { uploadId, partSize });
    }
    const part = /^\/artifact-uploads\/([^/]+)\/parts\/(\d+)$/.exec(rest);
    if (method === "PUT" && part) {
      const up = job.uploads.get(part[1]!);
      if (!up) return json(res, 404, err("not_found", "upload"));
      if (Number(req.headers["content-length"]) !== body.length) return json(res, 400, err("size", "content-length"));
      const fault = this.partFaults.get(Number(part[2]));
      if (fault !== undefined) return json(res, fault, err("fault", `part ${part[2]} refused (injected)`));
      this.partsInFlight += 1;
      this.mostPartsInFlight = Math.max(this.mostPartsInFlight, this.partsInFlight);
      await new Promise((resolve) => setTimeout(resolve, this.partDelayMs));
      this.partsInFlight -= 1;
      up.parts.set(Number(part[2]), body);
      return json(res, 200, { partNumber: Number(part[2]), etag: `etag-${part[2]}-${createHash("md5").update(body).digest("hex")}` });
    }
    const complete = /^\/artifact-uploads\/([^/]+)\/complete$/.exec(rest);
    if (method === "POST" && complete) {
      const up = job.uploads.get(complete[1]!);
      if (!up) return json(res, 404, err("not_found", "upload"));
      const { parts, sha256 } = JSON.parse(body.toString()) as { parts: { partNumber: number; etag: string }[]; sha256?: string };
      if (!up.sha256 && sha256) {
        up.sha256 = sha256;
        up.sha256AtComplete = true;
      }
      const whole = Buffer.concat(parts.sort((a, b) => a.partNumber - b.partNumber).map((p) => up.parts.get(p.partNumber)!));
      if (whole.length !== up.size || createHash("sha256").update(whole).digest("hex") !== up.sha256) {
        return json(res, 400, err("sha256_mismatch", "checksum"));
      }
      job.artifacts.set(up.name, { name: up.name, sha256: up.sha256, size: up.size, contentType: up.contentType, body: whole, multipart: true, sha256AtComplete: up.sha256AtComplete === true });
      return json(res, 201, {});
    }
    if (method === "POST" && rest === "/pipeline") {
      this.pipelineUploads.push({ attemptId: job.assignment.job.attemptId, text: body.toString("utf8"), contentType: req.headers["content-type"] });
      const answer = this.pipelineAnswer(body.toString("utf8"));
      return json(res, answer.status, answer.body);
    }
    for (const extra of this.jobRoutes) if (await extra(job, { method, rest, url, res })) return;
    if (method === "POST" && rest === "/finish") {
      const parsed = JobFinish.safeParse(JSON.parse(body.toString()));
      if (!parsed.success) return json(res, 400, err("invalid", parsed.error.message));
      job.finish = parsed.data;
      job.finishedAt = Date.now();
      return json(res, 200, {});
    }
    return json(res, 404, err("not_found", `${method} ${rest}`));
  }

  partSize = 5 * 1024 * 1024;
  /** How long a part's answer waits (so parts in flight together can be seen), and how many were. */
  partDelayMs = 0;
  private partsInFlight = 0;
  mostPartsInFlight = 0;
  /** Part number → the status every upload of that part is answered with. */
  partFaults = new Map<number, number>();

  private handleLog(job: JobRecord, url: URL, body: Buffer, res: http.ServerResponse): void {
    const seq = Number(url.searchParams.get("seq"));
    const offset = Number(url.searchParams.get("offset"));
    const n = job.logRequests.length;
    const fault = this.logFault(job.assignment.job.attemptId, n, seq, offset, body.length);
    const record = (status: number) => job.logRequests.push({ seq, offset, length: body.length, status });
    const ack = (): LogAck => ({ nextSeq: job.chunks, nextOffset: job.log.length });

    if (fault === "503") {
      record(503);
      return json(res, 503, err("unavailable", "injected"));
    }
    if (offset > job.log.length) {
      record(409);
      return json(res, 409, { error: { code: "log_gap", message: "gap", details: ack() } });
    }
    if (fault === "gap" && offset === job.log.length && body.length > 1) {
      // Pretend a chunk is missing: the agent must resend from where the log really ends.
      record(409);
      return json(res, 409, { error: { code: "log_gap", message: "gap", details: ack() } });
    }
    let data = body;
    if (typeof fault === "object") data = body.subarray(0, Math.min(body.length, fault.partial));
    const end = offset + data.length;
    if (end > job.log.length) {
      job.log = Buffer.concat([job.log, data.subarray(job.log.length - offset)]);
      job.chunks += 1;
    }
    if (fault === "store-then-503") {
      record(503);
      return json(res, 503, err("unavailable", "injected after storing"));
    }
    record(200);
    return json(res, 200, ack());
  }
}

function err(code: string, message: string) {
  return { error: { code, message } };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

let counter = 0;

/** A job assignment with sensible defaults for tests. */
export function makeAssignment(
  overrides: Partial<Omit<JobAssignment, "steps">> & {
    steps?: (Partial<JobAssignment["steps"][number]> & { id: string; run: string })[];
    timeoutMs?: number;
  } = {},
): JobAssignment {
  counter += 1;
  const attemptId = `att-${counter}-${randomUUID().slice(0, 8)}`;
  const { steps = [], timeoutMs, ...rest } = overrides;
  return {
    protocol: 1,
    token: `job-token-${attemptId}`,
    run: {
      id: `run-${counter}`,
      number: counter,
      project: "proj",
      pipeline: "build",
      branch: null,
      commit: null,
      trigger: "manual",
      attempt: 1,
    },
    job: { attemptId, key: "test", attempt: 1, timeoutMs: timeoutMs ?? 60_000, labels: [] },
    repository: null,
    env: {},
    outputs: {},
    artifacts: [],
    caches: [],
    mask: [],
    heartbeatIntervalMs: 100,
    limits: { logChunkBytes: 1024 * 1024, artifactBytes: 1024 * 1024 * 1024 },
    ...rest,
    steps: steps.map((s) => step(s.id, [], s)),
  };
}
