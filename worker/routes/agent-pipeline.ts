/**
 * `yardmaster-agent pipeline upload` (docs/agent-protocol.md): a running job adds the jobs of
 * a .act file to its run attempt. The file is checked like a stored pipeline (400 with every
 * problem's line and column), with the run's jobs available to `needs`; keys the run already
 * has are refused (409 naming them). The run's object does the work; the worker only reads
 * the body.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { PipelineUploadResponse, UploadProblem } from "../../domain/pipeline-upload.ts";
import { PIPELINE_DEFAULTS } from "../../domain/pipeline/types.ts";
import { AGENT_API_BASE } from "../../domain/protocol.ts";
import { ApiError, unwrap } from "../http/errors.ts";
import { jobRun } from "./agent-api.ts";
import { errors, ID, json, router } from "./common.ts";

export const agentPipelineRoutes = router();

const UploadProblems = z.object({
  error: z.object({ code: z.literal("invalid_pipeline"), message: z.string(), details: z.object({ problems: z.array(UploadProblem) }) }),
});

agentPipelineRoutes.openapi(
  createRoute({
    method: "post",
    operationId: "uploadJobPipeline",
    path: `${AGENT_API_BASE}/jobs/{jobAttemptId}/pipeline`,
    summary: "Add the jobs of a .act file to the running run attempt (yardmaster-agent pipeline upload)",
    description:
      "The body is the .act file (UTF-8, at most 256 KiB). Its jobs join the current run attempt and the run's definition; they may `needs` jobs already in the run, the uploading job included. 400 `invalid_pipeline` lists every problem with its line and column; 409 `job_keys_taken` names keys the run already has; 409 `upload_too_deep` / `too_many_jobs` past the limits; 409 `job_not_running` when the uploading job is not running. The same file uploaded again by the same job changes nothing (`unchanged`).",
    security: [{ jobToken: [] }],
    request: {
      params: z.object({ jobAttemptId: ID }),
      body: { required: true, content: { "text/plain": { schema: z.string() }, "application/yaml": { schema: z.string() } } },
    },
    responses: {
      200: json(PipelineUploadResponse, "The jobs were added (or were already, from the same upload)."),
      410: errors[409],
      ...errors,
      400: json(UploadProblems, "The file has problems; nothing was added."),
    },
  }),
  async (c) => {
    const { jobAttemptId } = c.req.valid("param");
    const { token, run } = jobRun(c.env, c.req.header("authorization"), jobAttemptId);
    const limit = PIPELINE_DEFAULTS.maxFileBytes;
    if (Number(c.req.header("content-length") ?? "0") > limit) throw new ApiError(413, "pipeline_too_large", `a pipeline file may be at most ${limit} bytes`);
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.byteLength > limit) throw new ApiError(413, "pipeline_too_large", `a pipeline file may be at most ${limit} bytes`);
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
    } catch {
      throw new ApiError(400, "invalid_encoding", "a pipeline file must be UTF-8 text");
    }
    return c.json(unwrap(await run.uploadPipeline(jobAttemptId, token, text)), 200);
  },
);
