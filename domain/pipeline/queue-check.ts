/**
 * The queues a pipeline's jobs name, checked against the caller's view of the registry
 * (`ParseOptions.queueRefusal`). Each queue is asked once; a refusal is reported where the
 * queue is written: the job's own `queue:`, else the pipeline's (once), else the job itself
 * (it fell back to `default`, which is refused only by a registry without it).
 */
import type { PipelineFile } from "./schema.ts";
import type { PipelineJob } from "./types.ts";

export function reportRefusedQueues(
  file: PipelineFile,
  jobs: PipelineJob[],
  queueRefusal: (queue: string) => string | null,
  fault: (path: (string | number)[], message: string) => void,
): void {
  const refusals = new Map<string, string | null>();
  const refusal = (queue: string) => {
    if (!refusals.has(queue)) refusals.set(queue, queueRefusal(queue));
    return refusals.get(queue)!;
  };
  let pipelineLevelReported = false;
  for (const job of jobs) {
    const why = refusal(job.queue);
    if (why === null) continue;
    if (file.jobs[job.key]!.queue != null) fault(["jobs", job.key, "queue"], why);
    else if (file.queue != null) {
      if (!pipelineLevelReported) fault(["queue"], why);
      pipelineLevelReported = true;
    } else fault(["jobs", job.key], why);
  }
}
