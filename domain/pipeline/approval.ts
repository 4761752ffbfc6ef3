/**
 * `type: approval` jobs at upload (docs/pipelines.md, "Approvals"): what such a job may not
 * have, and its normalised spec. The schema fills in a placeholder `runs-on` and step for it
 * (schema.ts), so the one job schema holds both kinds.
 */
import type { PipelineFile } from "./schema.ts";
import { isApprovalPlaceholder } from "./schema.ts";
import type { ApprovalSpec } from "./types.ts";

type FileJob = PipelineFile["jobs"][string];

/** Each problem as [path under the job, message]. */
export function approvalProblems(job: FileJob): [(string | number)[], string][] {
  const problems: [(string | number)[], string][] = [];
  if (job.type !== "approval") {
    if (job.approval) problems.push([["approval"], "approval: is for a job with type: approval"]);
    return problems;
  }
  if (!job.approval) problems.push([["type"], "an approval job needs approval: {prompt: …}"]);
  const no = (key: string, why: string) => problems.push([[key], `an approval job ${why}: leave out ${key}`]);
  if (!isApprovalPlaceholder(job["runs-on"])) no("runs-on", "needs no agent");
  if (job.steps.length !== 1 || !isApprovalPlaceholder([job.steps[0]!.run])) no("steps", "runs no steps");
  if (job.matrix) no("matrix", "cannot have a matrix");
  if (job.outputs) no("outputs", "has its inputs as outputs");
  if (job.artifacts) no("artifacts", "runs no steps");
  for (const [name, input] of Object.entries(job.approval?.inputs ?? {})) {
    const value = input.default;
    if (value == null) continue;
    if (input.type === "number" && !Number.isFinite(Number(value))) problems.push([["approval", "inputs", name, "default"], "the default of a number input must be a number"]);
    if (input.type === "boolean" && value !== "true" && value !== "false") problems.push([["approval", "inputs", name, "default"], "the default of a boolean input must be true or false"]);
  }
  return problems;
}

/** The normalised approval of a `type: approval` job; undefined for any other job. */
export function approvalSpec(job: FileJob): ApprovalSpec | undefined {
  if (job.type !== "approval" || !job.approval) return undefined;
  return {
    prompt: job.approval.prompt,
    inputs: Object.fromEntries(
      Object.entries(job.approval.inputs ?? {}).map(([name, input]) => [
        name,
        {
          type: input.type,
          required: input.required ?? input.default == null,
          ...(input.default != null && { default: input.default }),
          ...(input.description != null && { description: input.description }),
        },
      ]),
    ),
    timeoutMs: job.approval.timeout ?? null,
  };
}
