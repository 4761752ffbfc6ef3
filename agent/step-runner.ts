/**
 * One step of a job, with its retries: for each attempt, report RUNNING, write the header,
 * resolve `${{ steps.*.outputs.* }}` in its script and env, run the script in its shell (own
 * process group, timeout, cancellation), read YM_OUTPUT / YM_METRICS, write the footer and
 * report how the attempt ended (exit code, outputs, metrics, reason).
 *
 * Outputs leave the agent masked (domain/masking.ts, the log's rules); the later steps of the
 * same job get them as the step wrote them: they run on this machine with the secrets anyway.
 */
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { maskOutputs, type SecretMask } from "../domain/masking.ts";
import type { JobAssignment, PayloadStep, StepUpdate } from "../domain/protocol.ts";
import type { JobApi } from "./protocol-client.ts";
import type { LogStreamer } from "./log-streamer.ts";
import { pollMetrics } from "./metrics-poller.ts";
import { limitOutputs, parseMetrics, parseOutputs } from "./outputs-file.ts";
import type { StepReports } from "./reporter.ts";
import type { StepFinal } from "./step-graph.ts";
import { shellCommand, startProcess, type ProcessResult } from "./step-process.ts";
import { inStepEnv } from "./step-shim.ts";
import { resolveRecord, resolveStepTemplates } from "./templates.ts";
import type { Logger } from "./logger.ts";
import { giveFiles, type StepUser } from "./run-as.ts";

/** Why a job is being stopped before its steps are done. */
export type StopKind = "cancelled" | "timeout" | "agent_shutdown" | "rejected";

export interface StepContext {
  assignment: JobAssignment;
  api: JobApi;
  log: LogStreamer;
  reporter: StepReports;
  /** The job's work dir (the checkout). */
  workspace: string;
  /** Scripts and output files live here, outside the checkout. */
  tmpDir: string;
  /** The agent's environment, without its own secrets. */
  baseEnv: Readonly<Record<string, string>>;
  /** `yardmaster-agent` inside the step (./step-shim.ts): the shim's dir and the server's URL. */
  inStep?: { binDir: string; serverUrl: string };
  killGraceMs: number;
  /** Aborts when the job is stopped (cancel, job timeout, shutdown, refusal). */
  signal: AbortSignal;
  /** Aborts when nothing more may be sent to the server for this job. */
  ioSignal: AbortSignal;
  stopKind(): StopKind | null;
  /** Final outputs of the steps that ended, by step id. */
  outputs: Map<string, Record<string, string>>;
  /** The exit code of each step's latest attempt (null: killed by a signal, or never started). */
  exitCodes?: Map<string, number | null>;
  knownSteps: ReadonlySet<string>;
  /** Process groups started for this job (stopped when the job ends). */
  processGroups: Set<number>;
  closeWaitMs?: number;
  /** The agent's own log (stderr). */
  logger: Logger;
  /** The job's secrets (`assignment.mask`), compiled: what is reported is masked with it. */
  secretMask: SecretMask;
  /** How often a running step's $YM_METRICS is read (default METRICS_POLL_INTERVAL_MS; tests). */
  metricsIntervalMs?: number;
  /** `--run-as`: the step runs as this user, and its script and output files are its own. */
  user?: StepUser;
}

const BOLD = "\x1b[1m";
const RED = "\x1b[31m";
const YELLOW = "\x1b[33m";
const RESET = "\x1b[0m";

export async function runStep(step: PayloadStep, ctx: StepContext): Promise<StepFinal> {
  const attempts = Math.max(0, step.retries) + 1;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const outcome = await runAttempt(step, attempt, ctx);
    const last = attempt === attempts || outcome.status !== "FAILED" || outcome.stopped || ctx.stopKind() !== null;
    if (outcome.status === "SUCCESS" || last) {
      ctx.outputs.set(step.id, outcome.outputs);
      return outcome.status;
    }
    ctx.log.writeLine(`${YELLOW}↻ step ${step.id} failed; retrying (attempt ${attempt + 1} of ${attempts})${RESET}`);
  }
  return "FAILED"; // not reached
}

interface AttemptOutcome {
  status: StepFinal;
  outputs: Record<string, string>;
  /** The job was stopped during this attempt: no retry. */
  stopped: boolean;
}

async function runAttempt(step: PayloadStep, attempt: number, ctx: StepContext): Promise<AttemptOutcome> {
  const { assignment, log } = ctx;
  const report = (update: StepUpdate) => ctx.reporter.step(step.id, update);

  report({ attempt, status: "RUNNING" });
  ctx.logger.info(`step ${step.id} (attempt ${attempt}) started`);
  const title = step.name && step.name !== step.id ? `${step.id} — ${step.name}` : step.id;
  log.writeLine(`${BOLD}▶ step ${title} (attempt ${attempt})${RESET}`);

  const base = `${safeName(step.id)}-${attempt}`;
  const outputFile = path.join(ctx.tmpDir, `${base}.output`);
  const metricsFile = path.join(ctx.tmpDir, `${base}.metrics`);
  const scriptFile = path.join(ctx.tmpDir, `${base}${scriptExtension(step.shell)}`);
  const script = resolveStepTemplates(step.run, ctx.outputs, ctx.knownSteps);
  const stepEnv = resolveRecord(step.env, ctx.outputs, ctx.knownSteps);
  await mkdir(ctx.tmpDir, { recursive: true });
  await writeFile(outputFile, "");
  await writeFile(metricsFile, "");
  await writeFile(scriptFile, script.endsWith("\n") ? script : `${script}\n`, { mode: 0o700 });
  if (ctx.user) await giveFiles(ctx.user, [outputFile, metricsFile, scriptFile]);

  const env: Record<string, string> = {
    ...ctx.baseEnv,
    CI: "true",
    ...assignment.env,
    ...stepEnv,
    YM_OUTPUT: outputFile,
    YM_METRICS: metricsFile,
    YM_RUN_ID: assignment.run.id,
    YM_RUN_NUMBER: String(assignment.run.number),
    YM_RUN_ATTEMPT: String(assignment.run.attempt),
    YM_PROJECT: assignment.run.project,
    YM_PIPELINE: assignment.run.pipeline,
    YM_BRANCH: assignment.run.branch ?? "",
    YM_COMMIT: assignment.run.commit ?? "",
    YM_JOB: assignment.job.key,
    YM_JOB_ATTEMPT: String(assignment.job.attempt),
    YM_JOB_ATTEMPT_ID: assignment.job.attemptId,
    YM_STEP: step.id,
    YM_STEP_ATTEMPT: String(attempt),
    YM_WORKSPACE: ctx.workspace,
  };
  if (ctx.inStep) Object.assign(env, inStepEnv(ctx.inStep.binDir, ctx.inStep.serverUrl, assignment, env.PATH));
  const cwd = step.workingDirectory ? path.resolve(ctx.workspace, step.workingDirectory) : ctx.workspace;
  const { command, args } = shellCommand(step.shell, scriptFile);

  const proc = startProcess({
    command,
    args,
    cwd,
    env,
    timeoutMs: step.timeoutMs,
    killGraceMs: ctx.killGraceMs,
    signal: ctx.signal,
    onOutput: (chunk) => log.write(chunk),
    waitForDrain: () => log.waitForDrain(),
    closeWaitMs: ctx.closeWaitMs,
    ...(ctx.user ? { user: ctx.user } : {}),
  });
  if (proc.pid !== undefined) ctx.processGroups.add(proc.pid);
  // Metrics the step appends while it runs are reported as they come (agent/metrics-poller.ts).
  const poller = pollMetrics(metricsFile, (metrics) => report({ attempt, status: "RUNNING", metrics }), ctx.metricsIntervalMs);
  const result = await proc.done;
  await poller.stop();

  const parsedOutputs = parseOutputs(await readSmallFile(outputFile, "YM_OUTPUT", log));
  const outputs = limitOutputs(parsedOutputs.value);
  const metrics = parseMetrics(await readSmallFile(metricsFile, "YM_METRICS", log));
  const masked = maskOutputs(outputs.value, ctx.secretMask);
  // Masking can lengthen a value (a 1-character secret becomes `***`): limited again.
  const reported = limitOutputs(masked.value);
  for (const w of [...parsedOutputs.warnings, ...outputs.warnings, ...masked.warnings, ...reported.warnings, ...metrics.warnings]) {
    log.writeLine(`${YELLOW}warning: ${w}${RESET}`);
  }

  ctx.exitCodes?.set(step.id, result.exitCode);
  const verdict = judge(result, ctx.stopKind(), step.timeoutMs);
  log.writeLine(`${verdict.status === "SUCCESS" ? BOLD : `${BOLD}${RED}`}■ step ${step.id} (attempt ${attempt}): ${verdict.summary} in ${seconds(result.durationMs)}${RESET}`);
  ctx.logger.info(`step ${step.id} (attempt ${attempt}): ${verdict.status}, ${verdict.summary} in ${seconds(result.durationMs)}`);
  if (verdict.status !== "KILLED" || ctx.stopKind() !== "rejected") {
    report({
      attempt,
      status: verdict.status,
      exitCode: result.exitCode,
      outputs: reported.value,
      metrics: metrics.value,
      ...(verdict.reason ? { reason: verdict.reason } : {}),
      ...(verdict.message ? { message: ctx.secretMask.maskText(verdict.message).slice(0, 10_000) } : {}),
    });
  }
  return { status: verdict.status, outputs: outputs.value, stopped: result.cancelled };
}

interface Verdict {
  status: StepFinal;
  reason?: string;
  message?: string;
  summary: string;
}

/** How an attempt ended, from the process result and why (if at all) the job is stopping. */
export function judge(result: ProcessResult, stop: StopKind | null, stepTimeoutMs: number | null): Verdict {
  if (result.spawnError) {
    return {
      status: "FAILED",
      reason: "spawn_failed",
      message: result.spawnError.message,
      summary: `could not start: ${result.spawnError.message}`,
    };
  }
  if (result.cancelled) {
    if (stop === "timeout") {
      return { status: "FAILED", reason: "timeout", message: "the job timed out", summary: "killed: job timed out" };
    }
    const reason = stop ?? "cancelled";
    return { status: "KILLED", reason, summary: `killed (${reason})` };
  }
  if (result.timedOut) {
    const after = stepTimeoutMs != null ? ` after ${seconds(stepTimeoutMs)}` : "";
    return { status: "FAILED", reason: "timeout", message: `the step timed out${after}`, summary: `killed: timed out${after}` };
  }
  if (result.exitCode === 0) return { status: "SUCCESS", summary: "exit code 0" };
  if (result.exitCode !== null) return { status: "FAILED", summary: `exit code ${result.exitCode}` };
  return { status: "FAILED", message: `killed by ${result.signal}`, summary: `killed by ${result.signal}` };
}

/** Larger files are not read (and a warning says so): outputs are for values, not data. */
const MAX_OUTPUT_FILE_BYTES = 16 * 1024 * 1024;

async function readSmallFile(file: string, what: string, log: LogStreamer): Promise<string> {
  const size = await stat(file).then((s) => s.size, () => 0);
  if (size > MAX_OUTPUT_FILE_BYTES) {
    log.writeLine(`${YELLOW}warning: ${what} is ${size} bytes, over ${MAX_OUTPUT_FILE_BYTES}: ignored${RESET}`);
    return "";
  }
  return readFile(file, "utf8").catch(() => "");
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 100);
}

function scriptExtension(shell: string | null): string {
  const first = (shell ?? "bash").trim().split(/\s+/)[0] ?? "";
  const name = path.basename(first);
  if (name.startsWith("python")) return ".py";
  if (name === "node") return ".cjs";
  if (name === "pwsh" || name === "powershell") return ".ps1";
  return ".sh";
}
