/**
 * The agent protocol, version 1 (`/api/agent/v1`) and what version 2 adds (`/api/agent/v2`), as
 * zod schemas shared by the worker (which validates) and the Node agent (which sends).
 * docs/agent-protocol.md describes the exchange.
 */
import { z } from "zod";
import { TERMINAL_STATES } from "./states.ts";
import { RunRef } from "./run-ref.ts";

export const AGENT_PROTOCOL_VERSION = 1;
export const AGENT_API_BASE = "/api/agent/v1";
/**
 * Version 2 is version 1 plus one job route, `POST /api/agent/v2/jobs/:id/report`, that carries
 * step updates, a log chunk, the finish and the heartbeat in one call (JobReport). An agent asks
 * for it in its claim (`ClaimRequest.protocol`); the assignment's `protocol` says what it got.
 */
export const AGENT_PROTOCOL_V2 = 2;
export const AGENT_API_V2_BASE = "/api/agent/v2";

export const LABEL = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$/, "a label is 1–63 letters, digits, '_', '.', ':' or '-'");

/** POST /register, with the registration token as bearer. */
export const RegisterRequest = z.object({
  name: z.string().min(1).max(100),
  labels: z.array(LABEL).max(50),
  version: z.string().max(50),
  hostname: z.string().max(255).optional(),
  concurrency: z.number().int().min(1).max(64).default(1),
});
export type RegisterRequest = z.infer<typeof RegisterRequest>;

export const RegisterResponse = z.object({
  agentId: z.string(),
  /** The agent token: the bearer for every later agent-level call. Shown once. */
  token: z.string(),
  queue: z.string(),
  heartbeatIntervalMs: z.number().int(),
  lostAfterMs: z.number().int(),
});
export type RegisterResponse = z.infer<typeof RegisterResponse>;

/** POST /claim (agent token): long-poll; 200 with a JobAssignment, or 204 after ~25 s. */
export const ClaimRequest = z.object({
  /** Seconds to hold the claim open when nothing matches (0–30). */
  waitSeconds: z.number().min(0).max(30).default(25),
  /**
   * Chosen by the agent per claim and kept across that claim's retries: a retry whose first
   * try's answer was lost (the network dropped while a job was being handed over) gets the same
   * assignment again instead of leaving that job held until it is declared lost.
   */
  claimId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, "a claimId is 8–64 letters, digits, '_' or '-'").optional(),
  /** The newest protocol version the agent speaks (absent: 1). The assignment says which one to use. */
  protocol: z.number().int().min(1).max(1000).optional(),
});
export type ClaimRequest = z.infer<typeof ClaimRequest>;

export const PayloadStep = z.object({
  id: z.string(),
  name: z.string(),
  /** Templates other than `steps.*` are already resolved by the control plane. */
  run: z.string(),
  needs: z.array(z.string()),
  env: z.record(z.string(), z.string()),
  continueOnError: z.boolean(),
  timeoutMs: z.number().int().nullable(),
  retries: z.number().int(),
  shell: z.string().nullable(),
  workingDirectory: z.string().nullable(),
  /** The step's `if:` as written (domain/expressions.ts); the agent evaluates it. */
  if: z.string().optional(),
});
export type PayloadStep = z.infer<typeof PayloadStep>;

export const JobAssignment = z.object({
  /** 1, or 2 when the claim asked for it (`ClaimRequest.protocol`): the job may then use the report route. */
  protocol: z.union([z.literal(AGENT_PROTOCOL_VERSION), z.literal(AGENT_PROTOCOL_V2)]),
  /** Bearer for every call about this job; invalid once the job attempt ends. */
  token: z.string(),
  run: RunRef.extend({
    trigger: z.string(),
    attempt: z.number().int(),
  }),
  job: z.object({
    /** The job attempt's id: the `:jobAttemptId` of every job-level route. */
    attemptId: z.string(),
    key: z.string(),
    attempt: z.number().int(),
    timeoutMs: z.number().int(),
    labels: z.array(z.string()),
  }),
  /** Clone URL of the project's repository, or null when the project has none. */
  repository: z.string().nullable(),
  env: z.record(z.string(), z.string()),
  steps: z.array(PayloadStep),
  /** Output name → template over `steps.*`, resolved by the agent when the job ends. */
  outputs: z.record(z.string(), z.string()),
  artifacts: z.array(z.string()),
  /** `cache:` entries (domain/caches.ts), keys rendered but for `hashFiles(...)`. Absent from older servers. */
  caches: z.array(z.object({ key: z.string(), paths: z.array(z.string()), restoreKeys: z.array(z.string()) })).default([]),
  /** Values the agent must mask (with their encoded forms: domain/masking.ts) in the log and the outputs it sends. */
  mask: z.array(z.string()),
  heartbeatIntervalMs: z.number().int(),
  limits: z.object({ logChunkBytes: z.number().int(), artifactBytes: z.number().int() }),
  /**
   * What steps' `if:` read besides `run` and `steps`, sent only when a step has a condition:
   * the run's params, per job this one needs (by its key as written) its result and outputs,
   * and the job's matrix combination.
   */
  conditions: z
    .object({
      params: z.record(z.string(), z.string()),
      needs: z.record(z.string(), z.object({ result: z.string(), outputs: z.record(z.string(), z.string()) })),
      /** The job's matrix combination, for `matrix.<key>`. */
      matrix: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  /** Lines the agent writes at the top of the job's log (e.g. why the job has no secrets). */
  notices: z.array(z.string()).optional(),
});
export type JobAssignment = z.infer<typeof JobAssignment>;

export const Metric = z.object({
  name: z.string().min(1).max(200),
  kind: z.enum(["counter", "duration"]),
  /** A counter's value, or a duration in seconds. */
  value: z.number().finite(),
});
export type Metric = z.infer<typeof Metric>;

/**
 * Limits on step and job outputs, in UTF-8 bytes (docs/limits.md). They are stored as JSON in
 * rows of D1 and of the RunObject's SQLite, which stop at 2 MB; a job attempt's steps share
 * one row, so their outputs are bounded together too. The agent drops outputs past them
 * (with a warning in the log); the server refuses them (400 from the schema, 413 from the engine).
 */
export const OUTPUT_LIMITS = {
  /** Output names per step, and per job. */
  keys: 100,
  keyBytes: 200,
  valueBytes: 1024 * 1024,
  /** One step's (or job's) outputs as stored: `JSON.stringify(outputs)` in UTF-8. */
  totalBytes: 1024 * 1024,
  /** All of a job attempt's step outputs together, counted the same way. */
  jobAttemptBytes: 1024 * 1024,
} as const;

export const utf8Bytes = (text: string): number => new TextEncoder().encode(text).byteLength;
/** What a set of outputs weighs as stored. */
export const outputsBytes = (outputs: Readonly<Record<string, string>>): number => utf8Bytes(JSON.stringify(outputs));

const Outputs = z
  .record(
    z.string(),
    z.string().refine((v) => utf8Bytes(v) <= OUTPUT_LIMITS.valueBytes, `an output value may be at most ${OUTPUT_LIMITS.valueBytes} bytes (UTF-8)`),
  )
  // Checked on the record, not the key schema: zod reports a key's own message only as "Invalid key".
  .refine((o) => Object.keys(o).every((k) => utf8Bytes(k) <= OUTPUT_LIMITS.keyBytes), `an output name may be at most ${OUTPUT_LIMITS.keyBytes} bytes (UTF-8)`)
  .refine((o) => Object.keys(o).length <= OUTPUT_LIMITS.keys, `at most ${OUTPUT_LIMITS.keys} outputs`)
  .refine((o) => outputsBytes(o) <= OUTPUT_LIMITS.totalBytes, `outputs may total at most ${OUTPUT_LIMITS.totalBytes} bytes as JSON (UTF-8)`);

/** POST /jobs/:jobAttemptId/steps/:stepId (job token). */
export const StepUpdate = z.object({
  /** 1-based step attempt number. */
  attempt: z.number().int().min(1),
  status: z.enum(["RUNNING", ...TERMINAL_STATES]),
  exitCode: z.number().int().nullable().optional(),
  outputs: Outputs.optional(),
  metrics: z.array(Metric).max(1000).optional(),
  reason: z.string().max(50).optional(),
  message: z.string().max(10_000).optional(),
});
export type StepUpdate = z.infer<typeof StepUpdate>;

/** POST /jobs/:jobAttemptId/finish (job token). */
export const JobFinish = z.object({
  status: z.enum(TERMINAL_STATES),
  outputs: Outputs.default({}),
  reason: z.string().max(50).optional(),
  message: z.string().max(10_000).optional(),
  /** The exit code of the step that failed the job, for `retries.exit-codes`; absent when none. */
  exitCode: z.number().int().nullable().optional(),
});
export type JobFinish = z.infer<typeof JobFinish>;

/** Answer to POST /jobs/:jobAttemptId/heartbeat (job token). */
export const JobHeartbeatResponse = z.object({
  /** True once someone cancelled the job: stop it (SIGTERM, then SIGKILL) and finish KILLED. */
  cancel: z.boolean(),
});
export type JobHeartbeatResponse = z.infer<typeof JobHeartbeatResponse>;

/** POST /heartbeat (agent token). */
export const AgentHeartbeat = z.object({
  jobs: z.array(z.string()).max(64),
});
export type AgentHeartbeat = z.infer<typeof AgentHeartbeat>;

/**
 * POST /jobs/:jobAttemptId/logs?seq=<n>&offset=<bytes> with the raw bytes as body.
 * seq counts chunks from 0; offset is the byte offset of the chunk's first byte in the job
 * attempt's log. A chunk already stored is acknowledged and not stored again; a chunk past a
 * gap is refused with 409 `log_gap` and `details: LogAck` saying where to resume.
 */
export const LogAck = z.object({
  nextSeq: z.number().int(),
  nextOffset: z.number().int(),
});
export type LogAck = z.infer<typeof LogAck>;

/** PUT /jobs/:jobAttemptId/artifacts?name=&sha256=&size=&contentType= with the bytes as body. */
export const ArtifactName = z
  .string()
  .min(1)
  .max(512)
  .refine((n) => !n.startsWith("/") && !/^[A-Za-z]:/.test(n), "an artifact name must be relative")
  .refine((n) => !n.split(/[\\/]/).some((part) => part === ".." || part === "." || part === ""), {
    message: "an artifact name may not contain '..', '.' or empty path segments",
  })
  .refine((n) => !/[\u0000-\u001f\u007f]/.test(n), "an artifact name may not contain control characters");

export const SHA256_HEX = z.string().regex(/^[0-9a-f]{64}$/, "sha256 is 64 lowercase hex digits");

/**
 * A multipart artifact upload (artifacts too large for one request):
 * POST /jobs/:jobAttemptId/artifact-uploads → ArtifactUploadStart; PUT …/parts/:n (raw bytes of
 * partSize, the last smaller) → ArtifactPartAck; POST …/complete with ArtifactUploadComplete.
 */
export const ArtifactUploadStart = z.object({ uploadId: z.string(), partSize: z.number().int().positive() });
/** Part sizes an upload may ask for (`partSize` in the start): R2 wants 5 MiB at least, the server sends 64 MiB by default. */
export const ARTIFACT_PART_BYTES = { min: 5 * 1024 * 1024, max: 64 * 1024 * 1024 } as const;
export type ArtifactUploadStart = z.infer<typeof ArtifactUploadStart>;
export const ArtifactPartAck = z.object({ partNumber: z.number().int(), etag: z.string() });
export type ArtifactPartAck = z.infer<typeof ArtifactPartAck>;
export const ArtifactUploadComplete = z.object({
  parts: z.array(z.object({ partNumber: z.number().int().min(1), etag: z.string().min(1) })).min(1).max(10_000),
  /**
   * The whole file's SHA-256, when the start did not give it: an agent that hashes the parts as
   * they leave (one read of the file) knows it only now. Checked like one given at the start.
   */
  sha256: SHA256_HEX.optional(),
});
export type ArtifactUploadComplete = z.infer<typeof ArtifactUploadComplete>;

/**
 * Protocol 2: `POST /api/agent/v2/jobs/:jobAttemptId/report[?seq=&offset=]` (job token). The body
 * is this JSON on one line (JSON never holds a raw newline), a newline, then the log chunk's raw
 * bytes when `seq` and `offset` are given (as for v1's log route). The server stores the chunk,
 * then applies the step updates in order, then the finish; the call is also the job's heartbeat.
 */
export const JobReport = z.object({
  steps: z.array(StepUpdate.extend({ stepId: z.string().min(1).max(100) })).max(1000).default([]),
  finish: JobFinish.optional(),
});
export type JobReport = z.infer<typeof JobReport>;
/** Most bytes of a report's JSON line (a step's outputs are 1 MiB at most, a job attempt's too). */
export const MAX_REPORT_JSON_BYTES = 4 * 1024 * 1024;

/**
 * Answer to a report. A step update the run refuses on its own (409: out of order, or
 * `job_cancelling`) is refused in `steps` at its index; any other refusal refuses the call.
 */
export const JobReportAnswer = z.object({
  /** As a heartbeat's: someone cancelled the job. */
  cancel: z.boolean(),
  log: LogAck.optional(),
  steps: z.array(z.object({ ok: z.boolean(), code: z.string().optional(), message: z.string().optional() })),
  finished: z.boolean(),
});
export type JobReportAnswer = z.infer<typeof JobReportAnswer>;
