/**
 * RunObject: one per run (named by the run id), the source of truth of a live run. Its methods
 * are the run's commands (from the worker, the dispatcher and the run's agents); each runs the
 * pure run engine, then stores what changed, the history and the outbox entries in one storage
 * transaction, and only then answers. Outboxes (D1 projection, dispatcher calls) are flushed
 * after the answer (./outboxes.ts), and retried from the alarm when their target is down.
 */
import { uuidv7 } from "uuidv7";
import type { RunView } from "../../domain/views.ts";
import type { JobAssignment, JobFinish, JobReport, JobReportAnswer, StepUpdate } from "../../domain/protocol.ts";
import {
  type ApprovalDecision, buildJobAssignment, type CommandResult, createRun, type CreateRunInput, type EngineContext,
  engine, type JobAttemptState, locateJobAttempt, type JobState, nextDeadline, type RerunOptions, type RunState,
  type TransitionEffect, type AppendJobsResult, type GroupCall,
} from "../../domain/run-engine/index.ts";
import { MAX_ARTIFACT_BYTES, MAX_LOG_CHUNK_BYTES } from "../../domain/limits.ts";
import { isTerminal } from "../../domain/states.ts";
import { sha256Hex } from "../../domain/tokens.ts";
import { mintJobToken } from "../../platform/token-mac.ts";
import type { Env } from "../../platform/env.ts";
import { LiveObject, type LiveStream } from "../live-object.ts";
import { fail, ok, type Result } from "../../platform/result.ts";
import { settingsFrom, type Settings } from "../../platform/settings.ts";
import { migrate } from "../sql-migrations.ts";
import { ARTIFACT_MIGRATIONS, type ArtifactRecord, ArtifactStore } from "./artifact-store.ts";
import { markDirty } from "./d1-projection.ts";
import type { Committed, RunExtension } from "./extension.ts";
import { recordDispatchOps } from "./dispatch-outbox.ts";
import { gateBaselines } from "./gate-baselines.ts";
import { JobLogs, type LogRead } from "./job-logs.ts";
import { DatasetTriggerOutbox } from "./dataset-trigger-outbox.ts";
import { acted, appendedJobs, AuditOutbox, cancelledJobs, type RunAction } from "./audit-outbox.ts";
import type { AuditContext } from "../../platform/audit.ts";
import { LineageExtension, type LineageListing } from "./lineage.ts";
import { CommitStatusExtension, type StatusTarget } from "./commit-statuses.ts";
import { ConcurrencyOutbox, hasGroupCalls } from "./concurrency-outbox.ts";
import { prepareUpload } from "./pipeline-upload.ts";
import { LOG_MIGRATIONS } from "./log-store.ts";
import { RunLive } from "./live.ts";
import { RUN_SECRET_MIGRATIONS, RunSecrets } from "./run-secrets.ts";
import { REMOVAL_MIGRATIONS, removeLogs, removeRun } from "./removal.ts";
import { RunOutboxes } from "./outboxes.ts";
import { appendHistory, loadRun, RUN_MIGRATIONS, saveTouched } from "./store.ts";
import { type RunRead, RunReads } from "./run-reads.ts";
import { authorizeJob, type JobIdentity } from "./job-auth.ts";
import { applyJobReport, type LogChunk } from "./job-report.ts";

export type { JobIdentity } from "./job-auth.ts";

export class RunObject extends LiveObject {
  private state: RunState | null = null;
  private readonly settings: Settings;
  private readonly sql: SqlStorage;
  /** Its projection into D1 and its calls to the dispatchers (./outboxes.ts). */
  private readonly outboxes: RunOutboxes;
  readonly logs: JobLogs;
  private readonly artifacts: ArtifactStore;
  /** The run's secrets snapshot, encrypted (./run-secrets.ts). */
  private readonly secrets: RunSecrets;
  /** Features that hook into every command (see ./extension.ts). */
  private readonly extensions: RunExtension[];
  /** The live WebSocket stream of this run (./live.ts). */
  readonly live: RunLive;
  protected readonly stream: LiveStream;
  /** The run's OpenLineage events and their delivery (./lineage.ts). */
  private readonly lineage: LineageExtension;
  /** Commit statuses to GitHub and their delivery (./commit-statuses.ts). */
  private readonly statuses: CommitStatusExtension;
  /** Who acted on the run, recorded with the command and flushed to D1's audit log (./audit-outbox.ts). */
  private readonly audit: AuditOutbox;
  /** The run's view for people, kept serialized between changes (./run-reads.ts; an extension for `committed`). */
  private readonly reads: RunReads;
  private alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.settings = settingsFrom(env);
    this.outboxes = new RunOutboxes({
      sql: this.sql, env, state: () => this.state, artifact: (id) => this.artifacts.get(id),
      reschedule: () => this.scheduleAlarm(), waitUntil: (work) => ctx.waitUntil(work),
    });
    this.logs = new JobLogs(this.sql, env, this.settings.lateLogGraceMs);
    this.artifacts = new ArtifactStore(this.sql);
    this.secrets = new RunSecrets(this.sql);
    this.live = new RunLive(ctx, env, () => this.state);
    // The live stream (WebSocket, Hibernation API; ./live.ts), served by LiveObject's handlers.
    this.stream = { fetch: (request) => this.live.fetch(request, (state) => this.reads.view(state)), fanout: this.live.fanout };
    const datasetTriggers = new DatasetTriggerOutbox(this.sql, env);
    this.lineage = new LineageExtension(this.sql, env, this.logs.store, undefined, (events, committed) =>
      datasetTriggers.enqueue(events, committed.state),
    );
    this.statuses = new CommitStatusExtension(this.sql, env);
    this.audit = new AuditOutbox(this.sql, env);
    this.reads = new RunReads(this.sql, this.audit);
    this.extensions = [this.live, this.lineage, datasetTriggers, this.statuses, this.audit, new ConcurrencyOutbox(this.sql, env), this.reads];
    void ctx.blockConcurrencyWhile(async () => {
      this.migrateStorage();
      this.state = loadRun(this.sql);
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  private migrateStorage(): void {
    migrate(this.sql, [
      { name: "run", statements: RUN_MIGRATIONS },
      { name: "logs", statements: LOG_MIGRATIONS },
      { name: "artifacts", statements: ARTIFACT_MIGRATIONS },
      { name: "secrets", statements: RUN_SECRET_MIGRATIONS },
      { name: "removal", statements: REMOVAL_MIGRATIONS },
      ...this.extensions.flatMap((e) => (e.migrations ? [e.migrations] : [])),
    ]);
  }

  private engineContext(): EngineContext {
    return { now: Date.now(), newId: uuidv7, settings: this.settings };
  }

  /**
   * Keeps a command's result: state, history, D1 marks, dispatcher calls and who acted (`action`,
   * for the audit log) in one storage transaction, then kicks the outboxes. A refusal changes nothing, records nothing, and is logged.
   */
  private commit<T>(result: CommandResult<T>, options: { project?: boolean; action?: (value: T) => RunAction | null } = {}): Result<T> {
    if (!result.ok) {
      console.warn(`run ${this.state?.run.id}: refused ${result.error.code}: ${result.error.message}`);
      return { ok: false, error: result.error };
    }
    const transitions = result.effects.filter((e): e is TransitionEffect => e.type === "transition");
    const committed: Committed = { state: result.state, effects: result.effects, transitions, touched: result.touched, now: Date.now(), action: options.action?.(result.value) ?? null };
    let dispatch = false;
    this.ctx.storage.transactionSync(() => {
      saveTouched(this.sql, result.state, result.touched);
      appendHistory(this.sql, transitions);
      if (options.project !== false) markDirty(this.sql, result.state, result.touched);
      dispatch = recordDispatchOps(this.sql, result.effects);
      for (const effect of result.effects) {
        if (effect.type === "jobAttemptEnded") this.logs.jobAttemptEnded(effect.jobAttemptId, Date.now());
      }
      for (const extension of this.extensions) extension.record?.(committed);
    });
    this.state = result.state;
    for (const extension of this.extensions) extension.committed?.(committed);
    this.outboxes.committed({ dispatch, projected: options.project !== false, transitions });
    void this.scheduleAlarm();
    return ok(result.value);
  }

  /** A person waits on the answer: try to have the run and who acted in D1 first, so a listing right after shows them (the outboxes retry if not). */
  private toD1(runOnly = false): Promise<unknown> {
    return Promise.all([this.outboxes.settle(runOnly), this.audit.flush()]);
  }

  private require(): Result<RunState> {
    return this.state ? ok(this.state) : fail(404, "run_not_found", "no such run");
  }

  // ── from the worker ──────────────────────────────────────────────────────────────────────

  /** Creates the run, recorded as triggered `by`; calling again with the same id returns the same run (recorded once). */
  async create(input: CreateRunInput, by: AuditContext, extras: { statuses?: StatusTarget } = {}): Promise<Result<RunView>> {
    if (this.state) {
      if (this.state.run.id !== input.id) return fail(409, "run_exists", "this object already holds another run");
      return ok(this.reads.view(this.state));
    }
    if (extras.statuses) this.statuses.configure(extras.statuses);
    const result = this.commit(createRun(input, this.engineContext()), { action: acted("run.trigger", by) });
    if (!result.ok) return result;
    // No await since the commit: the snapshot lands together with the run.
    this.secrets.save(input.secrets ?? {});
    // Listing reads D1: try to have the run's row (and who triggered it) there before answering (the
    // outboxes retry if not); its attempt and jobs follow in the coalesced batch (./outboxes.ts).
    await this.toD1(true);
    return ok(this.reads.view(this.state!));
  }

  /** Who the run belongs to, for the worker's access checks (cheaper than the whole view). */
  async identity(): Promise<Result<{ id: string; project: string; number: number }>> {
    const state = this.require();
    return state.ok ? ok({ id: state.value.run.id, project: state.value.run.project, number: state.value.run.number }) : state;
  }

  /** The run's view, with who acted on it (kept by the audit outbox). */
  async get(): Promise<Result<RunView>> {
    const state = this.require();
    return state.ok ? ok(this.reads.withActions(state.value)) : state;
  }

  /** The same as JSON, for GET /api/v1/runs/:run (./run-reads.ts: kept between changes). */
  async read(): Promise<Result<RunRead>> {
    const state = this.require();
    return state.ok ? ok(this.reads.read(state.value)) : state;
  }

  /**
   * The run's OpenLineage events in emission order with their delivery state (a page after
   * `after`), and the run's project, for the worker's access check.
   */
  async lineageEvents(after: number, limit: number): Promise<Result<{ project: string; listing: LineageListing }>> {
    const state = this.require();
    return state.ok ? ok({ project: state.value.run.project, listing: this.lineage.list(after, limit) }) : state;
  }

  async cancel(by: AuditContext): Promise<Result<RunView>> {
    const state = this.require();
    if (!state.ok) return state;
    const result = this.commit(engine.cancel(state.value, this.engineContext()), { action: acted("run.cancel", by) });
    if (!result.ok) return result;
    await this.toD1(); // so a listing right after the answer shows it
    return ok(this.reads.view(this.state!));
  }

  async cancelJobs(jobAttemptIds: string[], by: AuditContext): Promise<Result<string[]>> {
    const state = this.require();
    if (!state.ok) return state;
    const result = this.commit(engine.cancelJobs(state.value, this.engineContext(), jobAttemptIds), { action: cancelledJobs(state.value.run.id, by) });
    return result.ok ? this.toD1().then(() => result) : result;
  }

  async rerun(options: RerunOptions, by: AuditContext): Promise<Result<RunView>> {
    const state = this.require();
    if (!state.ok) return state;
    const result = this.commit(engine.rerun(state.value, this.engineContext(), options), { action: acted("run.rerun", by) });
    if (!result.ok) return result;
    await this.toD1(); // so a listing right after the answer shows the new attempt
    return ok(this.reads.view(this.state!));
  }

  /** A person approves or rejects an approval job (domain/run-engine/approvals.ts). */
  async decideApproval(jobKey: string, decision: ApprovalDecision, by: AuditContext): Promise<Result<RunView>> {
    const state = this.require();
    if (!state.ok) return state;
    const result = this.commit(engine.decideApproval(state.value, this.engineContext(), jobKey, decision), { action: acted(decision.approve ? "run.approve" : "run.reject", by) });
    if (!result.ok) return result;
    await this.toD1(); // so a listing right after the answer shows the run moving on
    return ok(this.reads.view(this.state!));
  }

  /** The project's concurrency groups grant or supersede a claim of this run; a deleted run holds nothing. */
  async groupCall(call: GroupCall): Promise<Result<"held" | "released">> {
    return this.state ? this.commit(engine.groupCall(this.state, this.engineContext(), call)) : ok("released");
  }

  /**
   * Deletes the run (DELETE /api/v1/runs/:run, retention): its R2 objects, then all its storage
   * (state, history, logs, artifacts' records, lineage rows, outboxes) and its alarm. Refused
   * while the run is active. The worker deletes its D1 rows.
   */
  async destroy(runId: string): Promise<Result<{ objects: number }>> {
    if (this.state && !isTerminal(this.state.run.status)) {
      return fail(409, "run_active", `run #${this.state.run.number} is ${this.state.run.status}; cancel it and wait for it to end before deleting it`);
    }
    if (this.state && hasGroupCalls(this.sql)) return fail(409, "run_active", "the run is still giving back its concurrency group; try again in a minute");
    const audited = await this.audit.drain(); // deleting the storage would lose who acted on the run
    if (!audited.ok) return audited;
    const objects = await removeRun(this.ctx, this.env.ARTIFACTS, this.state?.run.id ?? runId);
    this.state = null;
    // Empty tables again, so a flush this instance already scheduled (live fan-out, outboxes) finds nothing rather than no table.
    this.migrateStorage();
    this.live.feed.forgetHead();
    return ok({ objects });
  }

  /** Retention: removes the run's log archives; reading a log then answers 410 `expired`. */
  async expireLogs(runId: string): Promise<Result<{ objects: number }>> {
    if (this.state && !isTerminal(this.state.run.status)) return fail(409, "run_active", "the run is still active");
    const objects = await removeLogs(this.ctx, this.env.ARTIFACTS, this.state?.run.id ?? runId, this.state !== null);
    this.live.feed.forgetHead(); // its log rows are gone
    return ok({ objects });
  }

  // ── from the dispatcher ──────────────────────────────────────────────────────────────────

  /** The dispatcher gives a queued job attempt to an agent; answers what the agent receives. */
  async assign(input: { jobAttemptId: string; agentId: string; agentName: string }): Promise<Result<JobAssignment>> {
    return this.handOut(input.jobAttemptId, (tokenHash) => engine.assign(this.state!, this.engineContext(), { ...input, tokenHash }));
  }

  /**
   * The agent holding a job attempt lost its claim's answer (the dispatcher saw the claim retried,
   * durable-objects/dispatcher/claim-replay.ts): the same assignment with a new job token.
   */
  async reissue(input: { jobAttemptId: string; agentId: string }): Promise<Result<JobAssignment>> {
    return this.handOut(input.jobAttemptId, (tokenHash) => engine.reissueToken(this.state!, this.engineContext(), { ...input, tokenHash }), { project: false });
  }

  /** A new job token for the attempt, the command that records its hash, and what the agent receives. */
  private async handOut(
    jobAttemptId: string,
    command: (tokenHash: string) => CommandResult<{ job: JobState; jobAttempt: JobAttemptState }>,
    options: { project?: boolean } = {},
  ): Promise<Result<JobAssignment>> {
    const state = this.require();
    if (!state.ok) return state;
    const token = await mintJobToken(this.env, state.value.run.id, jobAttemptId);
    const tokenHash = await sha256Hex(token);
    // Decrypted before the commit, so a key problem assigns nothing; used only in the answer.
    const secrets = await this.secrets.decrypt(this.env);
    // After the awaits above the command reads the state again: it may have changed meanwhile.
    const result = this.commit(command(tokenHash), options);
    if (!result.ok) return result;
    return ok(
      buildJobAssignment(this.state!, result.value.job, result.value.jobAttempt, {
        token,
        secrets,
        heartbeatIntervalMs: this.settings.heartbeatIntervalMs,
        limits: { logChunkBytes: MAX_LOG_CHUNK_BYTES, artifactBytes: MAX_ARTIFACT_BYTES },
      }),
    );
  }

  // ── from agents (job token) ──────────────────────────────────────────────────────────────

  /**
   * Checks a job token. `allowEnded` lets a finished (not lost) job's late log chunks (and a
   * resent finish) in, for `lateLogGraceMs` after it ended: then 410, and the log is archived once.
   */
  private async authorize(jobAttemptId: string, token: string, allowEnded = false): Promise<Result<JobIdentity>> {
    const hash = await sha256Hex(token);
    return authorizeJob(this.state, jobAttemptId, hash, { allowEnded, now: Date.now(), lateLogGraceMs: this.settings.lateLogGraceMs });
  }

  async jobHeartbeat(jobAttemptId: string, token: string): Promise<Result<{ cancel: boolean }>> {
    const auth = await this.authorize(jobAttemptId, token);
    if (!auth.ok) return auth;
    return this.commit(engine.heartbeat(this.state!, this.engineContext(), jobAttemptId), { project: false });
  }

  async updateStep(jobAttemptId: string, token: string, stepId: string, update: StepUpdate): Promise<Result<null>> {
    const auth = await this.authorize(jobAttemptId, token);
    if (!auth.ok) return auth;
    // Masked before the engine sees them (run-secrets.ts); the await: the state is re-read after.
    const outputs = await this.secrets.maskOutputs(this.env, update.outputs);
    const result = this.commit(engine.updateStep(this.state!, this.engineContext(), jobAttemptId, stepId, { ...update, outputs }));
    return result.ok ? this.outboxes.projected().then(() => ok(null)) : result;
  }

  async finishJob(jobAttemptId: string, token: string, finish: JobFinish): Promise<Result<null>> {
    const auth = await this.authorize(jobAttemptId, token, true);
    if (!auth.ok) return auth;
    const outputs = await this.secrets.maskOutputs(this.env, finish.outputs);
    const baselines = await gateBaselines(this.env.DB, this.state!, auth.value.jobKey);
    const result = this.commit(engine.finishJob(this.state!, this.engineContext(), jobAttemptId, { ...finish, outputs }, baselines));
    return result.ok ? this.outboxes.projected().then(() => ok(null)) : result; // a run it ended is listed so
  }

  async appendLog(jobAttemptId: string, token: string, seq: number, offset: number, data: Uint8Array) {
    const auth = await this.authorize(jobAttemptId, token, true);
    if (!auth.ok) return auth;
    const { jobAttempt } = locateJobAttempt(this.state!, jobAttemptId)!; // authorized: it exists
    const ended = isTerminal(jobAttempt.status);
    const { result, stored } = this.logs.append(jobAttemptId, seq, offset, data, Date.now(), ended);
    if (stored) {
      const chunk = { jobAttemptId, jobKey: auth.value.jobKey, seq, offset, data };
      for (const extension of this.extensions) extension.logAppended?.(chunk, this.state!);
    }
    void this.scheduleAlarm();
    return result;
  }

  /** Protocol 2: a log chunk, step updates, heartbeat and finish in one call (job-report.ts). */
  async jobReport(jobAttemptId: string, token: string, report: JobReport, log?: LogChunk): Promise<Result<JobReportAnswer>> {
    return applyJobReport(this, jobAttemptId, token, report, log, () => (this.state && locateJobAttempt(this.state, jobAttemptId)?.jobAttempt.status) === "KILLING");
  }

  /**
   * `yardmaster-agent pipeline upload`: the job's file, parsed with the run's jobs available
   * to `needs`, becomes jobs of the current attempt (domain/run-engine/append-jobs.ts).
   */
  async uploadPipeline(jobAttemptId: string, token: string, text: string): Promise<Result<AppendJobsResult>> {
    const auth = await this.authorize(jobAttemptId, token);
    if (!auth.ok) return auth;
    const prepared = await prepareUpload(this.env, this.state!, this.secrets, text);
    if (!prepared.ok) return prepared;
    // The awaits above: the engine reads the state as it is now.
    const command = engine.appendJobs(this.state!, this.engineContext(), { jobAttemptId, pipeline: prepared.value });
    const result = this.commit(command, { action: appendedJobs(this.state!, jobAttemptId) });
    await this.audit.flush(); // rare, and the log then names the agent by the time it has its answer
    return result;
  }

  /** Checks a job token for the worker (artifact uploads). */
  async identifyJob(jobAttemptId: string, token: string): Promise<Result<JobIdentity>> {
    return this.authorize(jobAttemptId, token);
  }

  /**
   * Records an artifact whose bytes the worker has stored in R2 under `artifactKey(..., uploadId,
   * name)`. The same name twice in one job attempt is the same upload retried when the bytes match
   * (answers the existing record, whose key may be another upload's), and a conflict when they differ.
   */
  async recordArtifact(
    jobAttemptId: string,
    token: string,
    meta: { name: string; size: number; sha256: string; contentType: string },
    uploadId: string,
  ): Promise<Result<ArtifactRecord>> {
    const auth = await this.authorize(jobAttemptId, token);
    if (!auth.ok) return auth;
    const recorded = this.artifacts.record(this.ctx.storage, auth.value, meta, uploadId, Date.now());
    if (!recorded.ok) return recorded;
    if (recorded.value.fresh) await this.outboxes.projectToD1();
    return ok(recorded.value.record);
  }

  /** An artifact already recorded under this job attempt and name (for idempotent uploads). */
  async artifactByName(jobAttemptId: string, token: string, name: string): Promise<Result<ArtifactRecord | null>> {
    const auth = await this.authorize(jobAttemptId, token);
    if (!auth.ok) return auth;
    return ok(this.artifacts.byName(jobAttemptId, name));
  }

  // ── logs for people ──────────────────────────────────────────────────────────────────────

  /** A job attempt's log, whole or a byte range of it (JobLogs.readJob). */
  async readLog(jobKey: string, jobAttemptNumber?: number, runAttemptNumber?: number, range?: { from: number; to?: number }): Promise<Result<LogRead>> {
    const state = this.require();
    return state.ok ? this.logs.readJob(state.value, jobKey, jobAttemptNumber, runAttemptNumber, range) : state;
  }

  // ── outboxes and the alarm ───────────────────────────────────────────────────────────────

  /** Sets the one alarm to the soonest of: engine deadlines, outbox retries, log archives. */
  private async scheduleAlarm(): Promise<void> {
    const now = Date.now();
    const candidates: (number | null)[] = [
      this.state ? nextDeadline(this.state, this.settings) : null,
      ...this.outboxes.nextAlarmAt(now),
      this.logs.nextArchiveAt(now),
      ...this.extensions.map((e) => e.nextAlarmAt?.(now) ?? null),
    ];
    const times = candidates.filter((t): t is number => t !== null);
    const next = times.length ? Math.max(Math.min(...times), now + 10) : null;
    if (next === this.alarmAt) return;
    this.alarmAt = next;
    if (next === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(next);
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    if (this.state) this.commit(engine.tick(this.state, this.engineContext()));
    const now = Date.now();
    await Promise.all([
      this.outboxes.flushAll(),
      this.logs.archiveDue(this.state?.run.id, now),
      ...this.extensions.map((e) => e.alarm?.(now, this.state)),
    ]);
    await this.scheduleAlarm();
  }
}
