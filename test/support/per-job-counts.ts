/**
 * Issue 20's counted figures for a one-step job, written once: what it cost before round two
 * (bench/improvements.md §7 and §8) and the most it may cost now. The tests that count them
 * (test/e2e/agent-calls.test.ts, test/workers/d1-projection-writes.test.ts) assert the targets;
 * the benchmark "writes" reports the counts beside both (BENCHMARKS.md).
 */
export const PER_JOB_COUNTS = {
  /** Agent calls at the wire: the claim and the job's calls (five, three in sequence, before protocol 2). */
  agentCalls: { before: 5, target: 3 },
  /** D1 statements from trigger to SUCCESS of a one-job run (19 before the projection was coalesced). */
  d1Statements: { before: 19, target: 6 },
} as const;
