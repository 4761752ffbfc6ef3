/**
 * The agent's life: take the work dir, register (or reuse the stored agent token), heartbeat,
 * and claim jobs while there is a free slot (`concurrency`), running each in a JobRunner.
 * Nothing the network or the server does ends this loop: errors back off and carry on. Only a
 * refused token with no registration token to get a new one, a signal, or a revocation ends it.
 *
 * Revocation (401 `agent_revoked` on a claim or heartbeat, `registration_token_revoked` on
 * registration): the agent cancels its running jobs as on a second signal and exits 3, and never
 * registers again (its state file stays, so a restart ends the same way). An unknown agent
 * token (`invalid_agent_token`, e.g. the server's state was reset) registers again, as before.
 *
 * Shutdown: the first `shutdown()` stops claiming (the pending long-poll is aborted) and lets
 * running jobs finish; the second cancels them (KILLED, reason agent_shutdown); the third gives
 * up on the server and kills their process groups at once.
 */
import { randomUUID } from "node:crypto";
import os from "node:os";
import { readdir, rm } from "node:fs/promises";
import path from "node:path";
import { AGENT_PROTOCOL_V2, type JobAssignment, type RegisterResponse } from "../domain/protocol.ts";
import { AgentApi, CLAIM_RETRY, JobRejectedError, ProtocolError, UnauthorizedError, type ClaimResult } from "./protocol-client.ts";
import { Backoff, isAbortError, sleep } from "./backoff.ts";
import { HttpClient, formatMs } from "./client.ts";
import { stepBaseEnv, type AgentConfig } from "./config.ts";
import { errorMessage, type Logger } from "./logger.ts";
import { JobRunner, type JobOutcome } from "./job-runner.ts";
import { openForPassage, unreachableBy, type StepUser } from "./run-as.ts";
import { acquireLock, deleteState, loadState, migrateLegacyState, prepareStateDir, saveState, statePath, type StoredAgent } from "./state.ts";

/** The exit code of an agent an administrator revoked (a service manager should not restart it). */
export const EXIT_REVOKED = 3;

export interface AgentOptions {
  config: AgentConfig;
  logger: Logger;
  version: string;
  /** Environment the steps start from (default: this process's, minus the agent's tokens). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Seconds a claim may be held open by the server (default 25). */
  claimWaitSeconds?: number;
  /** Tests: HTTP retry tuning and log tuning. */
  claimRetry?: { baseMs?: number; capMs: number };
  jobRetry?: { baseMs?: number; capMs: number };
  jobLog?: { flushIntervalMs?: number; flushBytes?: number; bufferLimit?: number };
  /** Called when a job ends (tests, metrics). */
  onJobEnd?: (attemptId: string, outcome: JobOutcome) => void;
  /** `--run-as`, resolved: the user steps run as. */
  user?: StepUser;
}

export class Agent {
  private readonly config: AgentConfig;
  private readonly logger: Logger;
  private readonly options: AgentOptions;
  readonly http: HttpClient;
  readonly api: AgentApi;
  private identity: StoredAgent | undefined;
  private readonly running = new Map<string, { runner: JobRunner; done: Promise<void> }>();
  private signals = 0;
  private stopping = false;
  private exitCode = 0;
  /** Revoked by an administrator: exit 3 whatever else happens, never register again. */
  private revoked = false;
  /** Aborted by the first shutdown: registration, claims and their backoff sleeps. */
  private readonly stopController = new AbortController();
  /** Aborted when the agent is done: heartbeats. */
  private readonly lifeController = new AbortController();
  private wakeUp: (() => void) | undefined;

  constructor(options: AgentOptions) {
    this.options = options;
    this.config = options.config;
    this.logger = options.logger;
    this.http = new HttpClient({
      url: this.config.url,
      logger: options.logger,
      userAgent: `yardmaster-agent/${options.version} (protocol ${AGENT_PROTOCOL_V2}; node ${process.version})`,
    });
    this.api = new AgentApi(this.http, { jobRetry: options.jobRetry });
  }

  /** Jobs running now, by job attempt id. */
  get runningJobs(): string[] {
    return [...this.running.keys()];
  }

  get agentId(): string | undefined {
    return this.identity?.agentId;
  }

  /** Runs until shut down (or the agent cannot go on); resolves to the process exit code. */
  async run(): Promise<number> {
    const releases: (() => Promise<void>)[] = [];
    try {
      releases.push(await acquireLock(this.config.workDir));
      await prepareStateDir(this.config.stateDir);
      releases.push(await acquireLock(this.config.stateDir, "--state-dir"));
    } catch (err) {
      this.logger.error(errorMessage(err));
      for (const release of releases) await release();
      return 1;
    }
    try {
      const migrated = await migrateLegacyState(this.config.workDir, this.config.stateDir);
      if (migrated.moved) this.logger.info(`moved the agent's identity from ${this.config.workDir}/agent.json to ${statePath(this.config.stateDir)}`);
      if (migrated.problem) {
        this.logger.error(migrated.problem);
        return 1;
      }
      await this.cleanStaleDirs();
      if (this.options.user) {
        const { workDir } = this.config;
        await openForPassage([workDir, ...["jobs", "tmp", "home"].map((d) => path.join(workDir, d))]);
        const problem = await unreachableBy(this.options.user, path.join(workDir, "jobs"));
        if (problem) {
          this.logger.error(problem);
          return 2;
        }
      }
      if (!(await this.ensureIdentity(false))) return this.revoked ? EXIT_REVOKED : this.stopping ? this.exitCode : 1;
      const heartbeat = this.heartbeatLoop();
      await this.claimLoop();
      if (this.running.size > 0) this.logger.info(`waiting for ${this.running.size} running job(s) to finish`);
      await Promise.all([...this.running.values()].map((r) => r.done));
      this.lifeController.abort();
      await heartbeat;
      if (this.revoked) {
        this.logger.error("agent stopped: it was revoked (exit code 3); remove its state file to register it again");
        return EXIT_REVOKED;
      }
      // Tell the dispatcher we are gone (best effort: the heartbeats stopping says it too).
      if (this.identity) await this.api.stop(this.identity.token).catch(() => {});
      this.logger.info("agent stopped");
      return this.exitCode;
    } finally {
      this.lifeController.abort();
      this.http.close();
      for (const release of releases.reverse()) await release();
    }
  }

  /** A SIGINT/SIGTERM (or any request to stop); see the file comment for the escalation. */
  shutdown(signal = "shutdown"): void {
    this.signals += 1;
    if (this.signals === 1) {
      this.stopping = true;
      const n = this.running.size;
      this.logger.info(
        `${signal}: no more claims; ${n ? `letting ${n} running job(s) finish — send it again to cancel them` : "exiting"}`,
      );
      this.stopController.abort(new Error("shutting down"));
      this.wakeUp?.();
    } else if (this.signals === 2) {
      this.exitCode = 1;
      this.cancelRunning(`${signal} again`);
    } else {
      this.logger.warn(`${signal} a third time: killing every step now and not waiting for the server`);
      for (const { runner } of this.running.values()) runner.abandon();
    }
  }

  private cancelRunning(why: string): void {
    this.logger.warn(`${why}: cancelling ${this.running.size} running job(s)`);
    for (const { runner } of this.running.values()) runner.requestStop("agent_shutdown");
  }

  /**
   * The server says an administrator revoked this agent (or its registration token): stop
   * claiming, cancel the running jobs as a second signal would, and exit 3.
   */
  private revoke(err: UnauthorizedError): void {
    if (this.revoked) return;
    this.revoked = true;
    this.logger.error(
      err.code === "registration_token_revoked"
        ? `the registration token was revoked by an administrator; not registering (${err.message})`
        : `this agent was revoked by an administrator; not registering again (${err.message})`,
    );
    this.stopping = true;
    this.stopController.abort(new Error("revoked"));
    this.wakeUp?.();
    if (this.signals < 2) {
      this.signals = 2;
      this.cancelRunning("revoked");
    }
  }

  private async claimLoop(): Promise<void> {
    const backoff = new Backoff({ baseMs: 1000, capMs: 30_000 });
    const waitSeconds = this.options.claimWaitSeconds ?? 25;
    let idleLogged = false;
    while (!this.stopping) {
      if (this.running.size >= this.config.concurrency) {
        await new Promise<void>((resolve) => {
          this.wakeUp = resolve;
        });
        this.wakeUp = undefined;
        continue;
      }
      const identity = this.identity!;
      const claimStarted = Date.now();
      let result: ClaimResult;
      try {
        if (!idleLogged) {
          this.logger.info(`waiting for a job (${this.running.size}/${this.config.concurrency} running)`);
          idleLogged = true;
        }
        // One claimId per claim, kept by the client across this claim's retries: if the answer
        // of a try is lost, the retry gets the same job back (docs/agent-protocol.md).
        result = await this.api.claim(
          identity.token,
          { waitSeconds, claimId: randomUUID(), protocol: AGENT_PROTOCOL_V2 },
          this.stopController.signal,
          this.options.claimRetry ?? CLAIM_RETRY,
        );
        backoff.reset();
      } catch (err) {
        if (this.stopping || isAbortError(err)) break;
        if (err instanceof UnauthorizedError && err.revoked) {
          this.revoke(err);
          break;
        }
        if (err instanceof UnauthorizedError) {
          this.logger.warn(`the server refused the agent token (${err.message})`);
          if (!(await this.ensureIdentity(true))) break;
          continue;
        }
        const delay = backoff.next();
        this.logger.error(`claim failed: ${errorMessage(err)}; trying again in ${formatMs(delay)}`);
        await sleep(delay, this.stopController.signal).catch(() => {});
        continue;
      }
      if (result.kind === "none") {
        // A 204 should come after ~waitSeconds; one that comes back at once must not turn this
        // loop into a flood.
        if (waitSeconds > 0 && Date.now() - claimStarted < 500) {
          await sleep(500 + Math.random() * 1000, this.stopController.signal).catch(() => {});
        }
        continue;
      }
      idleLogged = false;
      if (result.kind === "invalid") {
        await this.refuseInvalid(result);
        continue;
      }
      this.startJob(result.assignment);
      if (this.config.once) {
        this.logger.info("--once: took a job; no more claims");
        break;
      }
    }
  }

  private startJob(assignment: JobAssignment): void {
    if (this.running.has(assignment.job.attemptId)) {
      this.logger.warn(`job ${assignment.job.attemptId} was handed out again while it runs here; ignored`);
      return;
    }
    const runner = new JobRunner({
      api: this.api,
      assignment,
      workDir: this.config.workDir,
      baseEnv: stepBaseEnv(this.options.env ?? process.env),
      killGraceMs: this.config.killGraceMs,
      logger: this.logger,
      log: this.options.jobLog,
      ...(this.options.user ? { user: this.options.user } : {}),
    });
    if (this.signals >= 2) runner.requestStop("agent_shutdown");
    const id = assignment.job.attemptId;
    const done = runner
      .run()
      .then((outcome) => {
        // --once says with its exit code whether the job it took was run and reported.
        if (this.config.once && outcome.rejected !== undefined) this.exitCode = 1;
        this.options.onJobEnd?.(id, outcome);
      })
      .catch((err) => {
        if (this.config.once) this.exitCode = 1;
        this.logger.error(`job ${id} crashed in the agent: ${errorMessage(err)}`);
      })
      .finally(() => {
        this.running.delete(id);
        this.wakeUp?.();
      });
    this.running.set(id, { runner, done });
  }

  /** A job we cannot read: finish it FAILED so that it does not wait to be found lost. */
  private async refuseInvalid(result: Extract<ClaimResult, { kind: "invalid" }>): Promise<void> {
    this.logger.error(`the server sent a job this agent cannot read: ${result.error}`);
    const raw = result.raw as { token?: unknown; job?: { attemptId?: unknown } } | undefined;
    if (typeof raw?.token !== "string" || typeof raw.job?.attemptId !== "string") return;
    try {
      await this.api.job(raw.token, raw.job.attemptId).finish(
        { status: "FAILED", outputs: {}, reason: "invalid_assignment", message: `agent ${this.options.version}: ${result.error}`.slice(0, 10_000) },
        this.lifeController.signal,
      );
    } catch (err) {
      if (!(err instanceof JobRejectedError)) this.logger.warn(`could not refuse the job: ${errorMessage(err)}`);
    }
  }

  /**
   * Makes sure the agent has an identity: the stored one (unless `refresh`), or a new one
   * from the registration token. False when it cannot get one.
   */
  private async ensureIdentity(refresh: boolean): Promise<boolean> {
    if (!refresh) {
      const { state, problem } = await loadState(this.config.stateDir);
      if (problem) this.logger.warn(problem);
      if (state && state.url === this.config.url) {
        this.identity = state;
        this.logger.info(`agent ${state.name} (${state.agentId}), registered ${state.registeredAt}; queue ${state.queue}`);
        return true;
      }
      if (state) {
        this.logger.warn(`${statePath(this.config.stateDir)} belongs to ${state.url}, not ${this.config.url}`);
        if (!this.config.token) {
          this.identity = state;
          return true;
        }
      }
    }
    if (!this.config.token) {
      this.logger.error(
        refresh
          ? "the agent token is no longer valid; start the agent with --token-file <file with a registration token> to register again"
          : "this agent is not registered yet: pass --token-file <file with a registration token> (POST /api/v1/agent-tokens)",
      );
      this.exitCode = 1;
      return false;
    }
    if (refresh) await deleteState(this.config.stateDir);
    let registered: RegisterResponse;
    try {
      registered = await this.api.register(
        this.config.token,
        {
          name: this.config.name,
          labels: this.config.labels,
          version: this.options.version,
          hostname: os.hostname().slice(0, 255),
          concurrency: this.config.concurrency,
        },
        this.stopController.signal,
      );
    } catch (err) {
      if (isAbortError(err)) return false;
      if (err instanceof UnauthorizedError && err.revoked) {
        this.revoke(err);
        return false;
      }
      this.logger.error(errorMessage(err));
      this.exitCode = 1;
      return false;
    }
    this.identity = {
      url: this.config.url,
      agentId: registered.agentId,
      token: registered.token,
      queue: registered.queue,
      heartbeatIntervalMs: registered.heartbeatIntervalMs,
      lostAfterMs: registered.lostAfterMs,
      name: this.config.name,
      registeredAt: new Date().toISOString(),
    };
    await saveState(this.config.stateDir, this.identity);
    this.logger.info(
      `registered as ${this.config.name} (${registered.agentId}) with labels [${this.config.labels.join(", ")}]; queue ${registered.queue}`,
    );
    return true;
  }

  private async heartbeatLoop(): Promise<void> {
    const signal = this.lifeController.signal;
    while (!signal.aborted) {
      const interval = Math.max(250, this.identity?.heartbeatIntervalMs ?? 15_000);
      try {
        await sleep(interval, signal);
      } catch {
        return;
      }
      if (!this.identity || this.revoked) continue;
      try {
        await this.api.heartbeat(this.identity.token, { jobs: this.runningJobs.slice(0, 64) }, signal);
      } catch (err) {
        if (isAbortError(err)) return;
        if (err instanceof UnauthorizedError && err.revoked) {
          this.revoke(err);
          continue;
        }
        if (err instanceof ProtocolError || err instanceof UnauthorizedError) this.logger.warn(errorMessage(err));
        else this.logger.debug(`heartbeat missed: ${errorMessage(err)}`);
      }
    }
  }

  /** Job dirs left by an agent that died: nothing can use them any more. */
  private async cleanStaleDirs(): Promise<void> {
    for (const sub of ["jobs", "tmp", "home"]) {
      const dir = path.join(this.config.workDir, sub);
      const entries = await readdir(dir).catch(() => [] as string[]);
      for (const e of entries) await rm(path.join(dir, e), { recursive: true, force: true }).catch(() => {});
    }
  }
}
