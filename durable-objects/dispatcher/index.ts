/**
 * DispatcherObject: one per queue, named by the queue (domain/queues.ts; `default` always
 * exists). The ordered queue of ready job attempts, label matching, held long-poll claims answered the moment a matching job is ready, and the
 * registry of the queue's agents. Exactly one agent ever holds a job attempt: a claim marks the
 * row as being handed out in memory, synchronously (no await between choosing and marking), and
 * asks the run at once — no storage write ahead of that call, so no output gate holds it back
 * (issue 20) — then stores the row assigned when the run has accepted; a job enqueued while a
 * matching claim is held is handed to it the same way, its run asked before the enqueued rows are
 * written (enqueue, below). Should this object be
 * evicted in between, the row is still queued in storage and a later claim asks the run again:
 * the run refuses a second assignment of a job attempt, so it is still handed out exactly once.
 * Nothing here reads or writes D1.
 */
import { LiveObject } from "../live-object.ts";
import { uuidv7 } from "uuidv7";
import type { AgentView, QueueEntryView } from "../../domain/views.ts";
import type { RegisterRequest, JobAssignment } from "../../domain/protocol.ts";
import type { QueueItem } from "../../domain/run-engine/effects.ts";
import { parseScopedToken, sha256Hex } from "../../domain/tokens.ts";
import { mintAgentToken } from "../../platform/token-mac.ts";
import { DEFAULT_QUEUE } from "../../domain/queues.ts";
import type { Env } from "../../platform/env.ts";
import { runStub } from "../../platform/stubs.ts";
import { fail, ok, type Result } from "../../platform/result.ts";
import { settingsFrom, type Settings } from "../../platform/settings.ts";
import { migrate } from "../sql-migrations.ts";
import { CLAIM_MIGRATIONS, ClaimReplay } from "./claim-replay.ts";
import { AGENT_MIGRATIONS, AgentRegistry, type AgentRecord, agentState } from "./agent-registry.ts";
import { WriteCounter } from "./write-counter.ts";
import { fanoutOptionsFrom } from "../live-fanout.ts";
import { QUEUE_FEED_MIGRATIONS, QueueFeed } from "./queue-feed.ts";
import { QUEUE_MIGRATIONS, QueueStore, type QueueRow } from "./queue-store.ts";
import { isoTime } from "../../domain/time.ts";

/** A held claim's wake-up: false (give up), true (look again), or the job already being assigned to it. */
type Wake = boolean | Promise<JobAssignment | null>;

interface Waiter {
  agent: AgentRecord;
  wake: (woken: Wake) => void;
}

const labelsMatch = (required: string[], carried: string[]) => required.every((l) => carried.includes(l));

export class DispatcherObject extends LiveObject {
  private readonly queue: QueueStore;
  private readonly agents: AgentRegistry;
  private readonly settings: Settings;
  /** The live queue feed for `GET /api/v1/queue/live` (./queue-feed.ts). */
  private readonly feed: QueueFeed;
  /** The live queue feed (WebSocket, Hibernation API), served by LiveObject's handlers. */
  protected get stream(): QueueFeed {
    return this.feed;
  }
  /** Held claims, oldest first. In memory: a restart drops them and the agents simply claim again. */
  private waiters: Waiter[] = [];
  /** Rows being handed out right now (asked of their run, not yet accepted): no other claim takes them. */
  private readonly handingOut = new Set<string>();
  /** What recent claims were given, to answer a retry whose first answer was lost. */
  private readonly claims: ClaimReplay;
  /** Storage rows written since this instance started (stats(); issue 14.4). */
  private readonly writes = new WriteCounter();
  /** Calls from agents and from runs, since this instance started (stats()). */
  private calls = { agent: 0, run: 0 };
  /** The time; replaced by tests that simulate a minute of heartbeats. */
  private clock: () => number = () => Date.now();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.settings = settingsFrom(env);
    const sql = this.writes.wrap(ctx.storage.sql);
    migrate(sql, [
      { name: "queue", statements: QUEUE_MIGRATIONS },
      { name: "agents", statements: AGENT_MIGRATIONS },
      { name: "queue_feed", statements: QUEUE_FEED_MIGRATIONS },
      { name: "claims", statements: CLAIM_MIGRATIONS },
    ]);
    this.queue = new QueueStore(sql);
    this.feed = new QueueFeed(ctx, sql, this.queue, fanoutOptionsFrom(env));
    this.agents = new AgentRegistry(sql);
    this.claims = new ClaimReplay(sql, this.settings.lostAfterMs);
  }

  private get queueName(): string {
    return this.ctx.id.name ?? DEFAULT_QUEUE;
  }

  // ── from runs ────────────────────────────────────────────────────────────────────────────

  async enqueue(items: QueueItem[]): Promise<void> {
    this.calls.run++;
    // A new job a held claim can take goes to it at once, and its run is asked before this call
    // writes the rows: a message leaves an object only once the writes made before it are stored
    // (the output gate), so the rows wait one task for the call to be on its way, and the pickup
    // waits for one storage commit less. This call still answers the run only once the rows are
    // stored, so nothing is acknowledged that is not; the mark in memory keeps other claims off a
    // handed row meanwhile, as pick's does, and its assignment is stored only after the row.
    let stored = () => {};
    const handed = this.handOutNew(items, new Promise<void>((resolve) => (stored = resolve)));
    if (handed.size > 0) await new Promise((resolve) => setTimeout(resolve, 0));
    let added: QueueItem[];
    try {
      added = this.queue.add(items);
    } finally {
      stored(); // a failed write leaves nothing to wait for (the run sends the enqueue again)
    }
    this.feed.enqueued(added);
    for (const item of added) if (!handed.has(item.jobAttemptId)) this.wakeOneFor(item);
  }

  /**
   * Starts assigning each new item that a held claim can take (highest priority first) to that
   * claim; answers their ids. Nothing queued is passed over: a claim is held only while no queued
   * row matches it.
   */
  private handOutNew(items: QueueItem[], stored: Promise<void>): Set<string> {
    const handed = new Set<string>();
    for (const item of [...items].sort((a, b) => b.priority - a.priority)) {
      if (handed.has(item.jobAttemptId) || this.handingOut.has(item.jobAttemptId) || this.queue.get(item.jobAttemptId)) continue;
      const waiter = this.waiters.find((w) => labelsMatch(item.labels, w.agent.labels));
      if (!waiter) continue;
      handed.add(item.jobAttemptId);
      this.handingOut.add(item.jobAttemptId);
      waiter.wake(this.assignAtRun(item, waiter.agent, stored));
    }
    return handed;
  }

  async dequeue(jobAttemptIds: string[]): Promise<string[]> {
    this.calls.run++;
    return this.feed.remove(jobAttemptIds, "cancelled", true);
  }

  async release(jobAttemptId: string): Promise<void> {
    this.calls.run++;
    this.feed.remove([jobAttemptId], "finished");
  }

  // ── from agents ──────────────────────────────────────────────────────────────────────────

  async register(input: RegisterRequest & { registrationTokenId: string | null }): Promise<{ agent: AgentRecord; token: string }> {
    const now = Date.now();
    const agent: AgentRecord = {
      id: uuidv7(),
      name: input.name,
      labels: input.labels,
      version: input.version,
      hostname: input.hostname ?? null,
      concurrency: input.concurrency,
      registrationTokenId: input.registrationTokenId,
      createdAt: now,
      lastSeenAt: now,
      stoppedAt: null,
      revokedAt: null,
    };
    const token = await mintAgentToken(this.env, this.queueName, agent.id);
    this.agents.add(agent, await sha256Hex(token));
    return { agent, token };
  }

  /**
   * The agent a token belongs to, seen now; or the refusal: `agent_revoked` for a revoked agent
   * (it must stop, not register again: the agent exits 3), `invalid_agent_token` for a token that
   * is no agent's of this queue (a token of another queue included).
   */
  private async authenticate(token: string): Promise<Result<AgentRecord>> {
    this.calls.agent++;
    const parsed = parseScopedToken(token, "yma");
    const unknown = fail(401, "invalid_agent_token", "the agent token is unknown to this queue; register again");
    if (!parsed || parsed.scope !== this.queueName) return unknown;
    const found = await this.agents.authenticate(parsed.id, token);
    if (!found) return unknown;
    if ("revoked" in found) return fail(401, "agent_revoked", `agent ${found.revoked.name} was revoked by an admin; it must stop (register a new agent to serve again)`);
    this.agents.seen(found.agent, this.clock());
    return ok(found.agent);
  }

  async heartbeat(token: string): Promise<Result<{ agentId: string }>> {
    const agent = await this.authenticate(token);
    if (!agent.ok) return agent;
    return ok({ agentId: agent.value.id });
  }

  /** A clean shutdown: the agents page shows it stopped rather than lost. */
  async stop(token: string): Promise<Result<null>> {
    const authenticated = await this.authenticate(token);
    if (!authenticated.ok) return authenticated;
    const agent = authenticated.value;
    agent.stoppedAt = this.clock();
    this.agents.save(agent);
    for (const w of this.waiters.filter((w) => w.agent.id === agent.id)) w.wake(false);
    return ok(null);
  }

  /**
   * Long-poll claim: a job assignment at once when a matching job is queued, else wait until one
   * is or `waitMs` passes (then null: the worker answers 204).
   */
  async claim(token: string, waitMs: number, claimId?: string): Promise<Result<JobAssignment | null>> {
    const authenticated = await this.authenticate(token);
    if (!authenticated.ok) return authenticated;
    const agent = authenticated.value;
    // A newer claim from the same agent replaces an older one still held (its connection is gone).
    const wakeOlder = () => {
      for (const w of this.waiters.filter((w) => w.agent.id === agent.id)) w.wake(false);
    };
    wakeOlder();
    if (!claimId) return this.claimFor(agent, waitMs);
    // A retry of a claim whose answer was lost gets the job that claim was given (./claim-replay.ts),
    // as long as that job is still this agent's.
    const given = await this.claims.given(agent.id, claimId, wakeOlder);
    if (given && this.queue.get(given.jobAttemptId)?.agentId === agent.id) {
      const run = runStub(this.env, given.runId);
      const again = await run.reissue({ jobAttemptId: given.jobAttemptId, agentId: agent.id });
      if (again.ok) return again;
    }
    if (given) this.claims.forget(agent.id, claimId);
    wakeOlder();
    const answer = this.claimFor(agent, waitMs);
    this.claims.remember(agent.id, claimId, answer);
    return answer;
  }

  private async claimFor(agent: AgentRecord, waitMs: number): Promise<Result<JobAssignment | null>> {
    const deadline = Date.now() + Math.min(waitMs, this.settings.claimWaitMs);
    for (;;) {
      const row = this.pick(agent);
      if (row) {
        const assigned = await this.assignAtRun(row, agent);
        if (assigned) return ok(assigned);
        continue;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) return ok(null);
      const woken = await this.waitForWork(agent, remaining);
      if (woken === false) return ok(null);
      if (woken === true) continue;
      const assigned = await woken; // handed a new job by enqueue
      if (assigned) return ok(assigned);
    }
  }

  /** The first queued row the agent may take, marked (in memory) before anything else can run. */
  private pick(agent: AgentRecord): QueueRow | null {
    const row = this.queue.firstQueuedMatching((labels) => labelsMatch(labels, agent.labels), this.handingOut);
    if (row) this.handingOut.add(row.jobAttemptId);
    return row;
  }

  /**
   * Tells the run its job attempt is taken, then stores the row assigned (the claim's answer waits
   * for that write). A refusal (cancelled meanwhile, or already assigned by an evicted instance)
   * drops the row; a failed call leaves it queued. `stored`: the write of the row itself (a new
   * row handed out by enqueue), which whatever follows the run's answer waits for.
   */
  private async assignAtRun(row: Pick<QueueRow, "runId" | "jobAttemptId">, agent: AgentRecord, stored?: Promise<void>): Promise<JobAssignment | null> {
    const run = runStub(this.env, row.runId);
    let result: Result<JobAssignment>;
    try {
      result = await run.assign({ jobAttemptId: row.jobAttemptId, agentId: agent.id, agentName: agent.name });
      await stored;
    } finally {
      this.handingOut.delete(row.jobAttemptId);
    }
    if (!result.ok) {
      this.feed.remove([row.jobAttemptId], "refused");
      return null;
    }
    this.queue.markAssigned(row.jobAttemptId, agent.id, agent.name, Date.now());
    this.feed.assigned(row.jobAttemptId);
    return result.value;
  }

  private waitForWork(agent: AgentRecord, ms: number): Promise<Wake> {
    return new Promise((resolve) => {
      const waiter: Waiter = {
        agent,
        wake: (woken) => {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(woken);
        },
      };
      const timer = setTimeout(() => waiter.wake(false), ms);
      this.waiters.push(waiter);
    });
  }

  private wakeOneFor(item: QueueItem): void {
    this.waiters.find((w) => labelsMatch(item.labels, w.agent.labels))?.wake(true);
  }

  // ── for people ───────────────────────────────────────────────────────────────────────────

  async listAgents(): Promise<AgentView[]> {
    const now = this.clock();
    const assigned = this.queue.assigned();
    return this.agents.list().map((agent) => {
      const jobs = assigned.filter((r) => r.agentId === agent.id);
      return {
        id: agent.id,
        name: agent.name,
        queue: this.queueName,
        labels: agent.labels,
        version: agent.version,
        hostname: agent.hostname,
        state: agentState(agent, jobs.length > 0, now, this.settings.lostAfterMs),
        jobs: jobs.map((r) => ({
          jobAttemptId: r.jobAttemptId,
          runId: r.runId,
          runNumber: r.runNumber,
          project: r.project,
          pipeline: r.pipeline,
          job: r.jobKey,
        })),
        lastSeenAt: isoTime(agent.lastSeenAt),
        createdAt: isoTime(agent.createdAt),
      };
    });
  }

  async revokeAgent(agentId: string): Promise<boolean> {
    const agent = this.agents.get(agentId);
    if (!agent) return false;
    agent.revokedAt ??= Date.now();
    this.agents.save(agent);
    for (const w of this.waiters.filter((w) => w.agent.id === agentId)) w.wake(false);
    return true;
  }

  /** What an autoscaler polls (GET /api/v1/queues/:name/metrics). No storage write, no D1. */
  async metrics(): Promise<{ waiting: number; running: number; agents: { idle: number; busy: number }; oldestWaitSeconds: number }> {
    const now = this.clock();
    const assigned = this.queue.assigned();
    const busyIds = new Set(assigned.map((r) => r.agentId));
    const agents = { idle: 0, busy: 0 };
    for (const agent of this.agents.list()) {
      const state = agentState(agent, busyIds.has(agent.id), now, this.settings.lostAfterMs);
      if (state === "idle" || state === "busy") agents[state]++;
    }
    const oldest = this.queue.oldestQueuedReadyAt();
    return {
      waiting: this.queue.queuedCount(),
      running: assigned.length,
      agents,
      oldestWaitSeconds: oldest === null ? 0 : Math.max(0, Math.floor((now - oldest) / 1000)),
    };
  }

  /** Whether any job is queued or running here (a queue that holds jobs cannot be deleted). */
  async holdsJobs(): Promise<boolean> {
    return this.queue.queuedCount() > 0 || this.queue.assigned().length > 0;
  }

  /** For tests and BENCHMARKS.md: storage rows written and calls served since this instance started. */
  async stats(): Promise<{ rowsWritten: number; agentCalls: number; runCalls: number }> {
    return { rowsWritten: this.writes.rowsWritten(), agentCalls: this.calls.agent, runCalls: this.calls.run };
  }

  async view(): Promise<{ pending: QueueEntryView[]; running: QueueEntryView[] }> {
    const now = Date.now();
    const pending: QueueEntryView[] = [];
    let place = 0;
    for (const row of this.queue.queuedInOrder()) {
      pending.push({ ...entry(row, now), position: ++place });
    }
    const running = this.queue.assigned().map((row) => entry(row, now));
    return { pending, running };
  }

  async reorder(jobAttemptId: string, anchor: { before?: string; after?: string }): Promise<Result<null>> {
    const anchorId = anchor.before ?? anchor.after;
    if (!anchorId) return fail(400, "missing_anchor", "give `before` or `after`: the job to place this one next to");
    if (anchorId === jobAttemptId) return fail(400, "same_job", "a job cannot be placed next to itself");
    for (const id of [jobAttemptId, anchorId]) {
      const row = this.queue.get(id);
      if (!row) return fail(404, "not_queued", `job ${id} is not in the queue`);
      if (row.state !== "queued") return fail(409, "already_claimed", `job ${id} is already running on ${row.agentName}`);
    }
    this.queue.move(jobAttemptId, anchorId, anchor.before ? "before" : "after");
    this.feed.reordered(jobAttemptId);
    return ok(null);
  }
}

function entry(row: QueueRow, now: number): QueueEntryView {
  const { position: _position, state, agentName, assignedAt, agentId: _agentId, ...item } = row;
  return {
    ...item,
    queue: item.queue ?? DEFAULT_QUEUE,
    state,
    position: null,
    agent: agentName,
    assignedAt: isoTime(assignedAt),
    waitMs: (assignedAt ?? now) - item.readyAt,
  };
}
