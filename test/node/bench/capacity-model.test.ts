/**
 * The capacity model's sums on round inputs, worked by hand, so that docs/scale.md and the
 * benchmark report can be trusted to say what their inputs imply.
 */
import { describe, expect, it } from "vitest";
import { type CallCosts, deploymentCapacity, idleAgentLoad, objectCeiling, type PlatformLimits, queueCapacity, runCapacity, runLoadPerJob, type Workload } from "../../../bench/capacity-model.ts";

const limits: PlatformLimits = { objectRequestsPerSecond: 1000, objectCpuMsPerSecond: 1000, socketsPerObject: 32768, d1QueriesPerSecond: 1000, d1DatabaseBytes: 10e9 };
const costs: CallCosts = { claim: 2, emptyClaim: 2, agentHeartbeat: 1, stepReport: 1, logAppend: 2, jobHeartbeat: 1, finish: 3, trigger: 5, lineageEvent: 4, fanOutPerViewerChunk: 0.1 };
const work: Workload = {
  stepsPerJob: 1,
  logChunksPerJob: 1,
  jobHeartbeatsPerJob: 0,
  agentHeartbeatSeconds: 5,
  claimHoldSeconds: 25,
  logChunkBytes: 65536,
  d1StatementsPerJob: 10,
  d1StatementsPerLineageEvent: 4,
  d1BytesPerJob: 1000,
};

describe("capacity model", () => {
  it("an object's ceiling is whichever of its request and CPU budgets runs out first", () => {
    expect(objectCeiling(limits, { requests: 1, cpuMs: 0.5 })).toEqual({ perSecond: 1000, boundBy: "requests" });
    expect(objectCeiling(limits, { requests: 1, cpuMs: 4 })).toEqual({ perSecond: 250, boundBy: "cpu" });
    // What is already used comes off both budgets.
    expect(objectCeiling(limits, { requests: 1, cpuMs: 4 }, { requests: 0, cpuMs: 600 })).toEqual({ perSecond: 100, boundBy: "cpu" });
  });

  it("an idle agent costs its queue a heartbeat every 5 s and a claim every 25 s", () => {
    const load = idleAgentLoad(costs, work);
    expect(load.requests).toBeCloseTo(0.24); // 1/5 + 1/25
    expect(load.cpuMs).toBeCloseTo(0.28); // 1/5 × 1 ms + 1/25 × 2 ms
  });

  it("a queue carries idle agents up to its CPU, and jobs with what the agents leave", () => {
    const q = queueCapacity(limits, costs, work, 1000);
    // 1000 ms ÷ 0.28 ms per agent-second = 3571 agents (requests would allow 1000 ÷ 0.24 = 4166).
    expect(q.maxIdleAgents).toBe(3571);
    expect(q.idleBoundBy).toBe("cpu");
    // 1000 agents use 240 req/s and 280 ms/s; a job is 3 requests and 2 ms:
    // requests allow (1000 − 240) ÷ 3 = 253.3 jobs/s, CPU (1000 − 280) ÷ 2 = 360: requests bind.
    expect(q.jobsPerMinute).toBeCloseTo((760 / 3) * 60);
    expect(q.jobsBoundBy).toBe("requests");
  });

  it("a run's job costs its object the assignment, two reports a step, its log chunks and the finish", () => {
    expect(runLoadPerJob(costs, work)).toEqual({ requests: 5, cpuMs: 2 + 2 + 2 + 3 });
    const r = runCapacity(limits, costs, work, 50, 131072);
    expect(r.jobsPerMinute).toBeCloseTo((1000 / 9) * 60); // CPU: 9 ms a job
    expect(r.jobsBoundBy).toBe("cpu");
    // A chunk with 50 viewers: 2 + 50 × 0.1 = 7 ms → 142.9 chunks/s of 64 KiB.
    expect(r.logMBps).toBeCloseTo(((1000 / 7) * 65536) / 1e6);
    // At 128 KiB/s (2 chunks/s): (1000 − 2 × 2) ÷ (2 × 0.1) = 4980 viewers, under 32,768 sockets.
    expect(r.maxViewers).toBe(4980);
    expect(r.viewersBoundBy).toBe("cpu");
    // Cheap enough fan-out and the sockets bind instead.
    expect(runCapacity(limits, { ...costs, fanOutPerViewerChunk: 0.001 }, work, 50, 131072).viewersBoundBy).toBe("sockets");
  });

  it("a deployment is bounded by its queues or its one D1 database, whichever is lower", () => {
    const one = deploymentCapacity(limits, costs, work, 1, 100);
    // One queue, 100 agents (24 req/s, 28 ms/s): (1000 − 24) ÷ 3 = 325.3 jobs/s; D1: 1000 ÷ 10 = 100 jobs/s.
    expect(one.byQueues).toBeCloseTo((976 / 3) * 60);
    expect(one.byD1).toBe(6000);
    expect(one.jobsPerMinute).toBe(6000);
    expect(one.saturatesFirst).toBe("D1");
    expect(one.lineageEventsPerSecond).toBe(250);
    // 10 GB ÷ (1000 B × 6000 jobs/min × 1440 min) = 1.157 days.
    expect(one.daysToFullD1).toBeCloseTo(10e9 / (1000 * 6000 * 1440));
    // Ten queues multiply the dispatchers, not D1.
    const ten = deploymentCapacity(limits, costs, work, 10, 100);
    expect(ten.byQueues).toBeCloseTo(one.byQueues * 10);
    expect(ten.jobsPerMinute).toBe(6000);
    expect(ten.agents).toBe(1000);
    // With a cheap enough projection, the queue is what fills first.
    expect(deploymentCapacity(limits, costs, { ...work, d1StatementsPerJob: 1 }, 1, 100).saturatesFirst).toBe("queues");
  });
});
