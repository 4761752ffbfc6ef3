/**
 * Protocol 2's one job call (docs/agent-protocol.md "Protocol 2"): `POST /api/agent/v2/jobs/:id/report`
 * carries a JobReport as a line of JSON and, with `?seq=&offset=`, a log chunk's raw bytes after
 * it. The run's object applies it with v1's own handlers (durable-objects/run-object/job-report.ts).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { AGENT_API_V2_BASE, JobReport, JobReportAnswer, MAX_REPORT_JSON_BYTES } from "../../domain/protocol.ts";
import { MAX_LOG_CHUNK_BYTES } from "../../domain/limits.ts";
import { ApiError, unwrap } from "../http/errors.ts";
import { jobRun } from "./agent-api.ts";
import { errors, ID, json, router } from "./common.ts";

export const agentReportRoutes = router();

const MAX_REPORT_BYTES = MAX_REPORT_JSON_BYTES + 1 + MAX_LOG_CHUNK_BYTES;
const NEWLINE = 0x0a;

/** The report's JSON line and the log bytes after it; 400 for a body that is not that. */
export function splitReport(body: Uint8Array, withLog: boolean): { report: JobReport; log: Uint8Array } {
  const end = body.indexOf(NEWLINE);
  const line = end === -1 ? body : body.subarray(0, end);
  const log = end === -1 ? new Uint8Array(0) : body.subarray(end + 1);
  if (line.byteLength > MAX_REPORT_JSON_BYTES) throw new ApiError(413, "body_too_large", `a report's JSON line may be at most ${MAX_REPORT_JSON_BYTES} bytes`);
  if (log.byteLength > MAX_LOG_CHUNK_BYTES) throw new ApiError(413, "log_chunk_too_large", `a log chunk may be at most ${MAX_LOG_CHUNK_BYTES} bytes; send smaller chunks`);
  if (!withLog && log.byteLength > 0) throw new ApiError(400, "invalid_request", "log bytes after the JSON line need ?seq= and ?offset=");
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(line));
  } catch {
    throw new ApiError(400, "invalid_request", "a report starts with a line of JSON (a JobReport), then a newline, then the log bytes if any");
  }
  const parsed = JobReport.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ApiError(400, "invalid_request", `invalid body: ${issue ? `${issue.path.join(".")}: ${issue.message}` : "not a JobReport"}`, {
      issues: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
    });
  }
  return { report: parsed.data, log };
}

agentReportRoutes.openapi(
  createRoute({
    method: "post",
    path: `${AGENT_API_V2_BASE}/jobs/{jobAttemptId}/report`,
    operationId: "reportJob",
    summary: "Protocol 2: a log chunk, step updates, the heartbeat and the finish in one call",
    description:
      "The body is a JobReport as one line of JSON, a newline, then (with `seq` and `offset`, as v1's log route) the log chunk's raw bytes. The chunk is stored first (409 `log_gap` refuses the whole report), then the step updates in order (a 409 refuses one update, in `steps`), then the finish; without a finish the call is the job's heartbeat and answers `cancel`.",
    security: [{ jobToken: [] }],
    request: {
      params: z.object({ jobAttemptId: ID }),
      query: z.object({ seq: z.coerce.number().int().min(0).optional(), offset: z.coerce.number().int().min(0).optional() }),
      body: { required: true, content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } },
    },
    responses: { 200: json(JobReportAnswer, "Applied: the log's position, each step update's answer, whether to cancel."), 410: errors[409], ...errors },
  }),
  async (c) => {
    const { jobAttemptId } = c.req.valid("param");
    const { seq, offset } = c.req.valid("query");
    if ((seq === undefined) !== (offset === undefined)) throw new ApiError(400, "invalid_request", "give both seq and offset (a log chunk), or neither");
    const { token, run } = jobRun(c.env, c.req.header("authorization"), jobAttemptId);
    if (Number(c.req.header("content-length") ?? "0") > MAX_REPORT_BYTES) throw new ApiError(413, "body_too_large", `a report may be at most ${MAX_REPORT_BYTES} bytes`);
    const body = new Uint8Array(await c.req.arrayBuffer());
    const withLog = seq !== undefined && offset !== undefined;
    const { report, log } = splitReport(body, withLog);
    const chunk = withLog ? { seq, offset, data: log } : undefined;
    return c.json(unwrap(await run.jobReport(jobAttemptId, token, report, chunk)), 200);
  },
);
