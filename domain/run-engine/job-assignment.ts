/**
 * What an agent receives when it claims a job: the job's steps with every template the control
 * plane can resolve (needs, params, run, secrets) filled in; `steps.*` templates are left for
 * the agent, which knows the step outputs. The values of the secrets the job uses travel only
 * here, and the agent masks them in the logs it sends.
 */
import { AGENT_PROTOCOL_VERSION, type JobAssignment } from "../protocol.ts";
import { renderTemplate, templateReferences } from "../templates.ts";
import { needsContext } from "./job-conditions.ts";
import type { JobAttemptState, JobState, RunState } from "./model.ts";

/** Written at the top of every job log of a run without secrets. */
export const SECRETS_WITHHELD_NOTICE =
  "This run is of a pull request from a fork: it gets no project secrets (every ${{ secrets.* }} is empty), so untrusted code cannot read them.";

export interface AssignmentOptions {
  token: string;
  /** Project secrets by name (decrypted); only the ones the job references are sent. */
  secrets: Record<string, string>;
  heartbeatIntervalMs: number;
  limits: JobAssignment["limits"];
}

export function buildJobAssignment(state: RunState, job: JobState, jobAttempt: JobAttemptState, options: AssignmentOptions): JobAssignment {
  const { run } = state;
  const attempt = state.attempts[state.attempts.length - 1]!;
  const def = run.definition.jobs.find((j) => j.key === job.key)!;
  const jobsByKey = new Map(attempt.jobs.map((j) => [j.key, j]));
  const usedSecrets = new Set<string>();

  const runFields: Record<string, string> = {
    id: run.id,
    number: String(run.number),
    branch: run.branch ?? "",
    commit: run.commit ?? "",
    trigger: run.trigger,
    attempt: String(attempt.number),
    pipeline: run.pipeline,
    project: run.project,
  };
  const lookup = (path: string[]): string | undefined => {
    const [root, a, b, c] = path;
    switch (root) {
      case "needs":
        return b === "outputs" && c !== undefined ? (jobsByKey.get(a!)?.outputs[c] ?? "") : undefined;
      case "params":
        return run.params[a!] ?? run.definition.params[a!]?.default ?? "";
      case "run":
        return runFields[a!];
      case "secrets":
        usedSecrets.add(a!);
        return options.secrets[a!] ?? "";
      default:
        return undefined; // steps.*: the agent's to resolve
    }
  };
  const render = (text: string) => renderTemplate(text, lookup);
  const renderAll = (values: Record<string, string>) =>
    Object.fromEntries(Object.entries(values).map(([k, v]) => [k, render(v)]));

  const assignment: JobAssignment = {
    protocol: AGENT_PROTOCOL_VERSION,
    token: options.token,
    run: {
      id: run.id,
      number: run.number,
      project: run.project,
      pipeline: run.pipeline,
      branch: run.branch,
      commit: run.commit,
      trigger: run.trigger,
      attempt: attempt.number,
    },
    job: { attemptId: jobAttempt.id, key: job.key, attempt: jobAttempt.number, timeoutMs: def.timeoutMs, labels: def.runsOn },
    repository: run.repository,
    env: { ...renderAll(run.definition.env), ...renderAll(def.env) },
    steps: def.steps.map((s) => ({
      ...s,
      run: render(s.run),
      env: renderAll(s.env),
      workingDirectory: s.workingDirectory === null ? null : render(s.workingDirectory),
    })),
    outputs: def.outputs,
    artifacts: def.artifacts,
    // Definitions stored before caches existed have none.
    caches: (def.caches ?? []).map((c) => ({ key: render(c.key), paths: c.paths, restoreKeys: c.restoreKeys.map(render) })),
    mask: [],
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    limits: options.limits,
    ...(run.secretsWithheld ? { notices: [SECRETS_WITHHELD_NOTICE] } : {}),
  };
  if (def.steps.some((s) => s.if !== undefined)) {
    const params = { ...Object.fromEntries(Object.entries(run.definition.params).flatMap(([k, p]) => (p.default === undefined ? [] : [[k, p.default]]))), ...run.params };
    assignment.conditions = { params, needs: needsContext(state, job, jobsByKey), ...(def.matrix && { matrix: def.matrix.values }) };
  }
  // Job outputs may name secrets too; they are resolved by the agent from step outputs only.
  for (const text of Object.values(def.outputs)) for (const ref of templateReferences(text, "secrets")) usedSecrets.add(ref.path[1]!);
  assignment.mask = [...usedSecrets].map((name) => options.secrets[name]).filter((v): v is string => !!v);
  return assignment;
}
