/**
 * `POST /api/agent/v1/jobs/:jobAttemptId/pipeline` (job token): a step's
 * `yardmaster-agent pipeline upload` sends a .act file whose jobs join the running run attempt
 * (docs/agent-protocol.md). Shared by the worker, which validates, and the agent, which sends.
 */
import { z } from "zod";

export const PipelineUploadResponse = z.object({
  /** Keys of the jobs added to the run by this upload. */
  added: z.array(z.string()),
  /** Keys an identical earlier upload from the same job already added (a retry, a re-run): nothing changed. */
  unchanged: z.array(z.string()),
});
export type PipelineUploadResponse = z.infer<typeof PipelineUploadResponse>;

/** One problem of an uploaded file, as the stored-pipeline route reports it. */
export const UploadProblem = z.object({
  message: z.string(),
  line: z.number(),
  column: z.number(),
  path: z.array(z.union([z.string(), z.number()])),
});
export type UploadProblem = z.infer<typeof UploadProblem>;
