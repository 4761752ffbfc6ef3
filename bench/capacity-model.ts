/**
 * The capacity model (issue 20.6): from the CPU each hot call costs (measured by bench/capacity.ts)
 * and Cloudflare's published limits (docs/scale.md cites each one), how much one queue, one run
 * and one deployment carry, and what saturates first. Pure arithmetic, no I/O, so that its sums
 * are checked on known inputs (test/node/bench/capacity-model.test.ts) and the report and the
 * doc compute the same numbers.
 *
 * The rule behind every ceiling: a Durable Object is single-threaded, so it serves at most
 * `objectRequestsPerSecond` requests (Cloudflare's soft limit) and at most one second of CPU per
 * second; whichever its load reaches first is its ceiling. D1 is one database for the whole
 * deployment and runs one query at a time.
 */

/** Cloudflare's published limits the model uses; docs/scale.md gives each number's page. */
export interface PlatformLimits {
  /** Requests one Durable Object serves a second (soft limit; past it, `overloaded`). */
  objectRequestsPerSecond: number;
  /** CPU one object has a second: it runs one request at a time on one thread. */
  objectCpuMsPerSecond: number;
  /** WebSockets one object may hold. */
  socketsPerObject: number;
  /** Queries one D1 database runs a second (one at a time; ~1,000 at 1 ms each). */
  d1QueriesPerSecond: number;
  /** Largest D1 database, bytes. */
  d1DatabaseBytes: number;
}

/**
 * CPU per call, ms, of the whole control plane (worker, objects, local D1), including the work
 * the call sets off (outbox flushes). Charged whole to every object the call touches, which
 * overstates each object's share: the ceilings below are floors.
 */
export interface CallCosts {
  /** A claim that takes a job (the run's assignment included). */
  claim: number;
  /** A claim that finds nothing (what an idle agent's long poll costs when it ends). */
  emptyClaim: number;
  agentHeartbeat: number;
  stepReport: number;
  logAppend: number;
  jobHeartbeat: number;
  finish: number;
  trigger: number;
  lineageEvent: number;
  /** One log chunk sent to one more viewer (the frame and its acknowledgement). */
  fanOutPerViewerChunk: number;
}

/** What a job and an agent do, from the protocol (docs/agent-protocol.md) and platform/settings.ts. */
export interface Workload {
  stepsPerJob: number;
  logChunksPerJob: number;
  /** A running job's heartbeats to its run (one every 5 s: a short job sends none). */
  jobHeartbeatsPerJob: number;
  /** An idle agent's heartbeat to its queue, seconds apart. */
  agentHeartbeatSeconds: number;
  /** An idle agent's long-poll claim is held this long, then sent again. */
  claimHoldSeconds: number;
  logChunkBytes: number;
  /** D1 statements a job costs (the run's projection; the trigger's share included). */
  d1StatementsPerJob: number;
  d1StatementsPerLineageEvent: number;
  /** D1 bytes a job leaves behind (its rows and indexes). */
  d1BytesPerJob: number;
}

export interface Ceiling {
  /** Units a second (jobs, chunks, agents' worth of load …) before the bound is reached. */
  perSecond: number;
  boundBy: "requests" | "cpu";
}

/** How many units a second an object serves when each costs `requests` and `cpuMs`, after `used`. */
export function objectCeiling(limits: PlatformLimits, unit: { requests: number; cpuMs: number }, used = { requests: 0, cpuMs: 0 }): Ceiling {
  const byRequests = Math.max(0, limits.objectRequestsPerSecond - used.requests) / unit.requests;
  const byCpu = Math.max(0, limits.objectCpuMsPerSecond - used.cpuMs) / unit.cpuMs;
  return byCpu <= byRequests ? { perSecond: byCpu, boundBy: "cpu" } : { perSecond: byRequests, boundBy: "requests" };
}

/** An idle agent's load on its queue's DispatcherObject, a second: heartbeats and long-poll claims. */
export function idleAgentLoad(costs: CallCosts, work: Workload): { requests: number; cpuMs: number } {
  return {
    requests: 1 / work.agentHeartbeatSeconds + 1 / work.claimHoldSeconds,
    cpuMs: costs.agentHeartbeat / work.agentHeartbeatSeconds + costs.emptyClaim / work.claimHoldSeconds,
  };
}

/** One queue (its DispatcherObject): a job costs the claim and two calls from its run (enqueue, release). */
export function queueCapacity(limits: PlatformLimits, costs: CallCosts, work: Workload, agents: number) {
  const agent = idleAgentLoad(costs, work);
  const idle = objectCeiling(limits, agent);
  const perJob = { requests: 3, cpuMs: costs.claim };
  const jobs = objectCeiling(limits, perJob, { requests: agent.requests * agents, cpuMs: agent.cpuMs * agents });
  return { maxIdleAgents: Math.floor(idle.perSecond), idleBoundBy: idle.boundBy, jobsPerMinute: jobs.perSecond * 60, jobsBoundBy: jobs.boundBy };
}

/** Requests and CPU one job costs its run's RunObject. */
export function runLoadPerJob(costs: CallCosts, work: Workload): { requests: number; cpuMs: number } {
  const reports = 2 * work.stepsPerJob; // RUNNING and the end of each step
  return {
    requests: 1 + reports + work.logChunksPerJob + work.jobHeartbeatsPerJob + 1, // assign … finish
    cpuMs: costs.claim + reports * costs.stepReport + work.logChunksPerJob * costs.logAppend + work.jobHeartbeatsPerJob * costs.jobHeartbeat + costs.finish,
  };
}

/** One run (its RunObject): jobs it completes, log it ingests with `viewers` watching, viewers it feeds at `logBytesPerSecond`. */
export function runCapacity(limits: PlatformLimits, costs: CallCosts, work: Workload, viewers: number, logBytesPerSecond: number) {
  const jobs = objectCeiling(limits, runLoadPerJob(costs, work));
  const chunk = { requests: 1, cpuMs: costs.logAppend + viewers * costs.fanOutPerViewerChunk };
  const log = objectCeiling(limits, chunk);
  const chunksPerSecond = logBytesPerSecond / work.logChunkBytes;
  const spare = limits.objectCpuMsPerSecond - chunksPerSecond * costs.logAppend;
  const byCpu = Math.floor(spare / (chunksPerSecond * costs.fanOutPerViewerChunk));
  const maxViewers = Math.max(0, Math.min(limits.socketsPerObject, byCpu));
  return {
    jobsPerMinute: jobs.perSecond * 60,
    jobsBoundBy: jobs.boundBy,
    logMBps: (log.perSecond * work.logChunkBytes) / 1e6,
    logBoundBy: log.boundBy,
    maxViewers,
    viewersBoundBy: maxViewers === limits.socketsPerObject ? ("sockets" as const) : ("cpu" as const),
  };
}

export type Part = "queues" | "D1";

/**
 * A deployment with `queues` queues and as many runs as it likes (each its own object): jobs a
 * minute are bounded by the queues' dispatchers and by the one D1 database; the first is what
 * saturates. Runs do not bound it: more runs are more objects.
 */
export function deploymentCapacity(limits: PlatformLimits, costs: CallCosts, work: Workload, queues: number, agentsPerQueue: number) {
  const queue = queueCapacity(limits, costs, work, agentsPerQueue);
  const byQueues = queue.jobsPerMinute * queues;
  const byD1 = (limits.d1QueriesPerSecond / work.d1StatementsPerJob) * 60;
  const jobsPerMinute = Math.min(byQueues, byD1);
  const saturatesFirst: Part = byD1 < byQueues ? "D1" : "queues";
  const daysToFullD1 = limits.d1DatabaseBytes / (work.d1BytesPerJob * jobsPerMinute * 60 * 24);
  return {
    jobsPerMinute,
    byQueues,
    byD1,
    saturatesFirst,
    agents: agentsPerQueue * queues,
    lineageEventsPerSecond: limits.d1QueriesPerSecond / work.d1StatementsPerLineageEvent,
    daysToFullD1,
  };
}
