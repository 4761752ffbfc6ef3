/** Small pipeline definitions for engine tests, built directly (no YAML). */
import type { Pipeline, PipelineJob, PipelineStep } from "../../domain/pipeline/types.ts";

export function step(id: string, needs: string[] = [], extra: Partial<PipelineStep> = {}): PipelineStep {
  return { id, name: id, run: `echo ${id}`, needs, env: {}, continueOnError: false, timeoutMs: null, retries: 0, shell: null, workingDirectory: null, ...extra };
}

export function job(key: string, needs: string[] = [], extra: Partial<PipelineJob> = {}): PipelineJob {
  return {
    key,
    queue: "default",
    runsOn: ["linux"],
    priority: 0,
    timeoutMs: 60_000,
    retries: 0,
    needs,
    env: {},
    steps: [step("main")],
    outputs: {},
    artifacts: [],
    caches: [],
    lineage: { inputs: [], outputs: [] },
    ...extra,
  };
}

export function pipeline(jobs: PipelineJob[], name = "build"): Pipeline {
  return { name, env: {}, params: {}, on: {}, jobs };
}
