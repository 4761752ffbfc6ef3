/**
 * One claimed job, start to end: work dir, job heartbeats (which carry the cancel signal),
 * job timeout, checkout, the steps graph, job outputs, artifacts, the log, and the finish.
 *
 * Stopping: a cancel (heartbeat answer), the job's timeout, or the agent's shutdown aborts the
 * running steps (their process groups get SIGTERM, then SIGKILL) and skips the rest; the job
 * then finishes KILLED (cancel, shutdown) or FAILED with reason `timeout`. When the server
 * refuses the job (4xx), everything stops and nothing more is sent for it.
 */
import { mkdir, rm } from "node:fs/promises";
import { createHash } from "node:crypto";
import path from "node:path";
import { maskOutputs, SecretMask } from "../domain/masking.ts";
import type { JobAssignment, JobFinish } from "../domain/protocol.ts";
import type { Reason } from "../domain/states.ts";
import { JobRejectedError, type AgentApi, type JobApi } from "./protocol-client.ts";
import { uploadArtifacts } from "./artifacts.ts";
import { type PreparedCache, restoreCaches, saveCaches } from "./caches.ts";
import { isAbortError, sleep } from "./backoff.ts";
import { checkout } from "./checkout.ts";
import { errorMessage, type Logger } from "./logger.ts";
import { LogStreamer } from "./log-streamer.ts";
import { Reporter, type StepReports } from "./reporter.ts";
import { JobChannel } from "./job-channel.ts";
import { runStepGraph } from "./step-graph.ts";
import { summarizeSteps } from "./job-outcome.ts";
import { killProcessGroup, MAX_TIMER_MS, processGroupAlive, signalGroup } from "./step-process.ts";
import { runStep, type StopKind } from "./step-runner.ts";
import { resolveRecord } from "./templates.ts";
import { limitOutputs } from "./outputs-file.ts";
import { writeAgentShim } from "./step-shim.ts";
import { AGENT_API_BASE, AGENT_PROTOCOL_V2 } from "../domain/protocol.ts";
import { giveDirs, openForPassage, stageArtifactsAs, userEnv, type StepUser } from "./run-as.ts";

export interface JobRunnerOptions {
  api: AgentApi;
  assignment: JobAssignment;
  /** The agent's work dir: the job runs in `<workDir>/jobs/<attemptId>`. */
  workDir: string;
  baseEnv: Readonly<Record<string, string>>;
  killGraceMs: number;
  logger: Logger;
  /** Log tuning (tests). */
  log?: { flushIntervalMs?: number; flushBytes?: number; bufferLimit?: number };
  /** How long to wait for a step's stdout/stderr after it exited (default 200 ms). */
  closeWaitMs?: number;
  /** `--run-as`: checkout and steps run as this user, in dirs and a HOME of its own. */
  user?: StepUser;
}

export interface JobOutcome {
  status: JobFinish["status"];
  /** What the job reports as its reason (domain/states.ts REASONS). */
  reason?: Reason;
  message?: string;
  outputs: Record<string, string>;
  /** The exit code of the step that failed the job, for the retry policy's `exit-codes`. */
  exitCode?: number;
  /** The server refused the job: nothing was finished. */
  rejected?: string;
}

const BOLD = "\x1b[1m";
const YELLOW = "\x1b[33m";
const RESET = "\x1b[0m";

export class JobRunner {
  readonly assignment: JobAssignment;
  readonly attemptId: string;
  private readonly options: JobRunnerOptions;
  private readonly logger: Logger;
  private readonly jobApi: JobApi;
  /** Aborts the steps (and checkout, artifacts). */
  private readonly stepsController = new AbortController();
  /** Aborts every call to the server (refusal, forced exit). */
  private readonly ioController = new AbortController();
  private stop: StopKind | null = null;
  /** Process groups of this job's steps and git commands. */
  private readonly processGroups = new Set<number>();
  private rejection: JobRejectedError | undefined;
  /** The job's secrets: the log, the outputs and the messages sent are masked with them. */
  private readonly secretMask: SecretMask;
  /** Under `--run-as`: the job's HOME (`<workDir>/home/<attempt>`), the user's. */
  private readonly home: string | undefined;
  /** What every process of the job starts from (with the user's HOME under `--run-as`). */
  private readonly baseEnv: Readonly<Record<string, string>>;
  /** Protocol 2's reports, when the assignment says so (./job-channel.ts). */
  private channel: JobChannel | undefined;
  /** Where the step's `yardmaster-agent` is (./step-shim.ts), once the tmp dir exists. */
  private shimDir: string | undefined;

  constructor(options: JobRunnerOptions) {
    this.options = options;
    this.assignment = options.assignment;
    // The job token is in every step's environment (YM_JOB_TOKEN): masked like a secret.
    this.secretMask = new SecretMask([...options.assignment.mask, options.assignment.token]);
    this.attemptId = options.assignment.job.attemptId;
    this.home = options.user ? path.join(options.workDir, "home", safeDirName(this.attemptId)) : undefined;
    this.baseEnv = options.user && this.home ? { ...options.baseEnv, ...userEnv(options.user, this.home) } : options.baseEnv;
    this.logger = options.logger.child(`${options.assignment.job.key} ${this.attemptId}`);
    this.jobApi = options.api.job(options.assignment.token, this.attemptId);
  }

  get stopKind(): StopKind | null {
    return this.stop;
  }

  /** Stops the job's steps; the first reason given is the one reported. */
  requestStop(kind: StopKind): void {
    if (this.stop === null) {
      this.stop = kind;
      const verb = kind === "timeout" ? "timed out" : kind === "rejected" ? "refused by the server" : kind === "cancelled" ? "cancelled" : "stopped (agent shutting down)";
      this.logger.warn(`job ${verb}; stopping its steps`);
    }
    if (kind === "rejected") this.ioController.abort(new Error("job refused by the server"));
    this.stepsController.abort(new Error(kind));
  }

  /** Forced exit: SIGKILL every process of the job now, and stop talking to the server. */
  abandon(): void {
    this.requestStop("agent_shutdown");
    for (const pg of this.processGroups) signalGroup(pg, "SIGKILL");
    this.ioController.abort(new Error("agent exiting"));
  }

  private reject(err: JobRejectedError): void {
    if (this.rejection) return;
    this.rejection = err;
    this.logger.error(`the server no longer accepts this job: ${err.message}`);
    this.requestStop("rejected");
  }

  async run(): Promise<JobOutcome> {
    const a = this.assignment;
    const started = Date.now();
    const dirName = safeDirName(this.attemptId);
    const workspace = path.join(this.options.workDir, "jobs", dirName);
    const tmpDir = path.join(this.options.workDir, "tmp", dirName);
    const processGroups = this.processGroups;
    this.logger.info(`running job ${a.run.project}/${a.run.pipeline}#${a.run.number} ${a.job.key} (attempt ${a.job.attempt})`);

    const handlers = { onRejected: (err: JobRejectedError) => this.reject(err), onCancelling: () => this.requestStop("cancelled") };
    // Protocol 2 (the claim asked, the server agreed): updates ride on the log's calls and the finish.
    const channel = (this.channel =
      a.protocol === AGENT_PROTOCOL_V2 ? new JobChannel(this.jobApi, this.logger, { ...handlers, onCancel: handlers.onCancelling }, this.ioController.signal) : undefined);
    const log = new LogStreamer({
      sink: (seq, offset, bytes, signal) => {
        const both = anySignal(signal, this.ioController.signal);
        return channel ? channel.logSink(seq, offset, bytes, both) : this.jobApi.log(seq, offset, bytes, both);
      },
      mask: [...a.mask, a.token],
      maxChunkBytes: a.limits.logChunkBytes > 0 ? a.limits.logChunkBytes : undefined,
      ...this.options.log,
      onFatal: (err) => {
        if (err instanceof JobRejectedError) this.reject(err);
        else this.logger.error(`the job log can no longer be sent: ${errorMessage(err)}`);
      },
    });
    const reporter: StepReports = channel ?? new Reporter(this.logger, handlers, (stepId, u) => this.jobApi.step(stepId, u, this.ioController.signal));
    const heartbeats = this.heartbeatLoop();
    const jobTimer =
      a.job.timeoutMs <= MAX_TIMER_MS ? setTimeout(() => this.requestStop("timeout"), Math.max(0, a.job.timeoutMs)) : undefined;
    const note = (line: string) => log.writeLine(line);

    let outcome: JobOutcome;
    try {
      await rm(workspace, { recursive: true, force: true });
      await mkdir(workspace, { recursive: true });
      await mkdir(tmpDir, { recursive: true });
      if (this.options.user && this.home) {
        // The user's: the work dir and HOME. Not the tmp dir: the files the agent reads back
        // (YM_OUTPUT, YM_METRICS) must not be replaceable by a symlink to root's files.
        await rm(this.home, { recursive: true, force: true });
        await giveDirs(this.options.user, [workspace, this.home]);
        await openForPassage([tmpDir]);
      }
      this.shimDir = await writeAgentShim(tmpDir);
      outcome = await this.execute({ log, reporter, workspace, tmpDir, processGroups, note });
    } catch (err) {
      if (err instanceof JobRejectedError) this.reject(err);
      else this.logger.error(`job failed inside the agent: ${errorMessage(err)}`);
      outcome = { status: this.stop === "cancelled" || this.stop === "agent_shutdown" ? "KILLED" : "FAILED", reason: "agent_error", message: errorMessage(err), outputs: {} };
    } finally {
      clearTimeout(jobTimer);
    }

    // Whatever the steps left running in the background ends with the job.
    await Promise.all([...processGroups].filter(processGroupAlive).map((pg) => killProcessGroup(pg, this.options.killGraceMs)));

    if (!this.rejection) {
      const colour = outcome.status === "SUCCESS" ? BOLD : `${BOLD}${YELLOW}`;
      log.writeLine(`${colour}job ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ""} in ${((Date.now() - started) / 1000).toFixed(1)} s${RESET}`);
      const finish: JobFinish = {
        status: outcome.status,
        outputs: outcome.outputs,
        ...(outcome.reason ? { reason: outcome.reason.slice(0, 50) } : {}),
        ...(outcome.message ? { message: this.secretMask.maskText(outcome.message).slice(0, 10_000) } : {}),
        ...(outcome.exitCode !== undefined ? { exitCode: outcome.exitCode } : {}),
      };
      try {
        if (channel) {
          // One call: the updates still waiting, the log's last chunk and the finish.
          await log.finishWith((tail) => channel.finish(finish, tail));
        } else {
          // The step reports and the log are independent streams: drain both at once (a round
          // trip less per job than one after the other); the finish waits for both.
          const logClosed = log.close().catch((err: unknown) => {
            if (!(err instanceof JobRejectedError)) this.logger.warn(`job log incomplete: ${errorMessage(err)}`);
          });
          await Promise.all([reporter.flush(), logClosed]);
          if (!this.rejection) await this.jobApi.finish(finish, this.ioController.signal);
        }
      } catch (err) {
        if (err instanceof JobRejectedError) this.reject(err);
        else if (!isAbortError(err)) this.logger.error(`could not finish the job: ${errorMessage(err)}`);
        else this.logger.warn("gave up finishing the job (agent exiting)");
      }
    }
    log.abort();
    this.ioController.abort(new Error("job over"));
    await heartbeats;
    await rm(workspace, { recursive: true, force: true }).catch(() => {});
    await rm(tmpDir, { recursive: true, force: true }).catch(() => {});
    if (this.home) await rm(this.home, { recursive: true, force: true }).catch(() => {});

    if (this.rejection) {
      return { ...outcome, rejected: this.rejection.message };
    }
    this.logger.info(`job ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ""} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return outcome;
  }

  private async execute(io: {
    log: LogStreamer;
    reporter: StepReports;
    workspace: string;
    tmpDir: string;
    processGroups: Set<number>;
    note: (line: string) => void;
  }): Promise<JobOutcome> {
    const a = this.assignment;
    const { log, reporter, workspace } = io;
    const stepsSignal = this.stepsController.signal;
    const skipAll = (reason: string) => {
      for (const step of a.steps) {
        reporter.step(step.id, { attempt: 1, status: "KILLED", reason });
      }
    };

    for (const notice of a.notices ?? []) log.writeLine(`${YELLOW}${notice}${RESET}`);
    if (a.repository) {
      log.writeLine(`${BOLD}▶ checkout${RESET}`);
      const result = await checkout({
        repository: a.repository,
        branch: a.run.branch,
        commit: a.run.commit,
        dir: workspace,
        env: { ...this.baseEnv, ...a.env },
        killGraceMs: this.options.killGraceMs,
        signal: stepsSignal,
        note: (line) => log.writeLine(line),
        onOutput: (chunk) => log.write(chunk),
        waitForDrain: () => log.waitForDrain(),
        onSpawn: (pgid) => io.processGroups.add(pgid),
        ...(this.options.user ? { user: this.options.user } : {}),
      });
      if (!result.ok) {
        const stopped = this.stoppedOutcome();
        const reason = stopped?.reason ?? "checkout_failed";
        log.writeLine(`${BOLD}${YELLOW}■ checkout: ${result.message}${RESET}`);
        skipAll(reason);
        return stopped ?? { status: "FAILED", reason, message: result.message, outputs: {} };
      }
    }

    const cacheIo = { api: this.jobApi, workspace, tmpDir: io.tmpDir, signal: stepsSignal, note: (line: string) => log.writeLine(line.startsWith("warning") ? `${YELLOW}${line}${RESET}` : line) };
    let caches: PreparedCache[] = [];
    if (a.caches.length > 0 && this.options.user) {
      // The agent (root) would write into and read from the user's dirs: not until that is done as the user.
      cacheIo.note("warning: caches are not used under --run-as (yet); the job runs without them");
    } else if (a.caches.length > 0) {
      log.writeLine(`${BOLD}▶ restore caches${RESET}`);
      caches = await restoreCaches(a.caches, cacheIo).catch((err: unknown) => {
        if (stepsSignal.aborted) return [];
        throw err;
      });
    }

    const outputs = new Map<string, Record<string, string>>();
    const exitCodes = new Map<string, number | null>();
    const knownSteps = new Set(a.steps.map((s) => s.id));
    const runFields: Record<string, string> = {
      id: a.run.id,
      number: String(a.run.number),
      branch: a.run.branch ?? "",
      commit: a.run.commit ?? "",
      trigger: a.run.trigger,
      attempt: String(a.run.attempt),
      pipeline: a.run.pipeline,
      project: a.run.project,
    };
    const done = await runStepGraph(a.steps, {
      run: (step) =>
        runStep(step, {
          assignment: a,
          api: this.jobApi,
          log,
          reporter,
          workspace,
          tmpDir: io.tmpDir,
          baseEnv: this.baseEnv,
          ...(this.shimDir ? { inStep: { binDir: this.shimDir, serverUrl: serverOrigin(this.options.api) } } : {}),
          killGraceMs: this.options.killGraceMs,
          signal: stepsSignal,
          ioSignal: this.ioController.signal,
          stopKind: () => this.stop,
          outputs,
          exitCodes,
          knownSteps,
          processGroups: io.processGroups,
          closeWaitMs: this.options.closeWaitMs,
          logger: this.logger,
          secretMask: this.secretMask,
          ...(this.options.user ? { user: this.options.user } : {}),
        }),
      skip: (step, reason) => {
        log.writeLine(`${YELLOW}○ step ${step.id} not run (${reason})${RESET}`);
        reporter.step(step.id, { attempt: 1, status: "KILLED", reason });
      },
      stopReason: () => this.stop,
      // What steps' `if:` read; the control plane sent params and needs (JobAssignment.conditions).
      lookup: ([root, a1, a2, a3]) => {
        if (root === "run") return runFields[a1!];
        if (root === "params") return a.conditions?.params[a1!] ?? "";
        if (root === "needs") return a2 === "result" ? a.conditions?.needs[a1!]?.result : (a.conditions?.needs[a1!]?.outputs[a3!] ?? "");
        if (root === "steps" && a2 === "outputs") return outputs.get(a1!)?.[a3!] ?? "";
        if (root === "matrix") return a.conditions?.matrix?.[a1!];
        return undefined;
      },
    });

    // Resolved from the steps' outputs as written, then masked: what leaves the agent.
    const masked = maskOutputs(resolveRecord(a.outputs, outputs, knownSteps), this.secretMask);
    const limited = limitOutputs(masked.value);
    for (const w of [...masked.warnings, ...limited.warnings]) log.writeLine(`${YELLOW}warning: job ${w}${RESET}`);
    const jobOutputs = limited.value;
    const stopped = this.stoppedOutcome(jobOutputs);
    // A failed, cancelled or timed-out job still uploads its artifacts (test reports, core
    // dumps: what explains the failure). Not on the agent's shutdown nor a refusal: those leave now.
    if (stopped && (a.artifacts.length === 0 || (this.stop !== "cancelled" && this.stop !== "timeout"))) return stopped;

    const summary = stopped ?? summarizeSteps(a.steps, done);
    let { status, reason, message } = summary;
    const failedStep = "failedStep" in summary ? summary.failedStep : undefined;
    const exitCode = failedStep === undefined ? null : (exitCodes.get(failedStep) ?? null);
    if (a.artifacts.length > 0) {
      const why = stopped ? (this.stop === "cancelled" ? "was cancelled" : "timed out") : status === "FAILED" ? "failed" : undefined;
      log.writeLine(`${BOLD}▶ artifacts${why ? ` (uploaded although the job ${why})` : ""}${RESET}`);
      // The steps' signal is already aborted when the job was stopped: then only the server calls' one.
      const uploadSignal = stopped ? this.ioController.signal : anySignal(stepsSignal, this.ioController.signal);
      try {
        const note = (line: string) => log.writeLine(line.startsWith("warning") ? `${YELLOW}${line}${RESET}` : line);
        // Under --run-as, only what the user can read: the agent (root) would follow its symlinks.
        const staged = this.options.user
          ? await stageArtifactsAs(this.options.user, a.artifacts, workspace, path.join(io.tmpDir, "artifacts"), { signal: uploadSignal, note })
          : { dir: workspace, skipped: 0 };
        const report = await uploadArtifacts(a.artifacts, staged.dir, {
          api: this.jobApi,
          signal: uploadSignal,
          maxBytes: a.limits.artifactBytes,
          hashAsSent: a.protocol === AGENT_PROTOCOL_V2,
          note,
        });
        const failed = report.failed + staged.skipped;
        if (failed > 0 && status === "SUCCESS") {
          status = "WARNING";
          reason = "artifacts_failed";
          message = `${failed} artifact(s) could not be uploaded`;
        }
      } catch (err) {
        if (err instanceof JobRejectedError) throw err;
        const now = this.stoppedOutcome(jobOutputs);
        if (now) return now;
        throw err;
      }
      if (stopped) return stopped;
    }
    if (caches.length > 0 && (status === "SUCCESS" || status === "WARNING") && !this.stop) {
      log.writeLine(`${BOLD}▶ save caches${RESET}`);
      await saveCaches(caches, cacheIo).catch((err: unknown) => {
        if (!stepsSignal.aborted) throw err;
      });
    }
    const final = this.stoppedOutcome(jobOutputs);
    if (final) return final;
    return { status, ...(reason ? { reason } : {}), ...(message ? { message } : {}), ...(exitCode !== null && { exitCode }), outputs: jobOutputs };
  }

  /** The outcome the job's stop implies, if it is being stopped. */
  private stoppedOutcome(outputs: Record<string, string> = {}): JobOutcome | undefined {
    switch (this.stop) {
      case null:
        return undefined;
      case "timeout":
        return { status: "FAILED", reason: "timeout", message: `the job timed out after ${this.assignment.job.timeoutMs} ms`, outputs };
      case "cancelled":
        return { status: "KILLED", reason: "cancelled", outputs };
      case "agent_shutdown":
        return { status: "KILLED", reason: "agent_shutdown", message: "the agent was stopped", outputs };
      case "rejected":
        return { status: "KILLED", reason: "rejected", outputs };
    }
  }

  /** Job heartbeats until the job is over; a `cancel: true` answer cancels the job. */
  private async heartbeatLoop(): Promise<void> {
    const signal = this.ioController.signal;
    const interval = Math.max(100, this.assignment.heartbeatIntervalMs);
    while (!signal.aborted) {
      try {
        await sleep(interval, signal);
      } catch {
        return;
      }
      try {
        const cancel = this.channel ? await this.channel.heartbeat() : (await this.jobApi.heartbeat(signal)).cancel;
        if (cancel) this.requestStop("cancelled");
      } catch (err) {
        if (err instanceof JobRejectedError) this.reject(err);
        else if (!isAbortError(err)) this.logger.debug(`job heartbeat missed: ${errorMessage(err)}`);
      }
    }
  }
}

/** A directory name for a job attempt id: the id itself when harmless, else its hash. */
export function safeDirName(id: string): string {
  if (/^[A-Za-z0-9_-]{1,100}$/.test(id)) return id;
  return createHash("sha256").update(id).digest("hex").slice(0, 32);
}

function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  return AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));
}

/** The server's origin, as the step's subcommands need it (YM_URL). */
function serverOrigin(api: AgentApi): string {
  const base = api.http.base;
  return base.endsWith(AGENT_API_BASE) ? base.slice(0, -AGENT_API_BASE.length) : base;
}
