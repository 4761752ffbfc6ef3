/**
 * Why a pending job waits (docs/dashboard.md, "The queue page: why a job waits"): its place in
 * its queue, a rough estimate of when it starts, and the labels no online agent of its queue
 * carries. Pure: the route gathers the queue, the agents and the recent durations.
 */

/** How many recent successful durations of a job the estimate looks at. */
export const ESTIMATE_SAMPLES = 20;

/** The median of some durations; null when there are none. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

export interface PendingJob {
  jobAttemptId: string;
  queue: string;
  /** `project/pipeline/job`: the job whose past durations estimate this one. */
  durationKey: string;
  labels: string[];
}

export interface OnlineAgent {
  queue: string;
  labels: string[];
  /** Jobs it runs at once. */
  slots: number;
}

export interface JobInsight {
  jobAttemptId: string;
  queue: string;
  /** 1-based place among the queued jobs of its queue. */
  position: number;
  /** The median duration of this job's last successful runs; null when it never succeeded. */
  durationMs: number | null;
  /** How many durations the median is of. */
  samples: number;
  /**
   * A rough time until it starts: the estimated durations of the jobs ahead of it in its queue
   * that the same agents could take, shared out over those agents' slots. Null when no online
   * agent can take it. Jobs already running are not counted (their remaining time is unknown).
   */
  startsInMs: number | null;
  /** The labels it asks for that no online agent of its queue carries ([] when one can take it). */
  missingLabels: string[];
  /** Online agents of its queue that carry every label it asks for. */
  capableAgents: number;
}

const carries = (agent: OnlineAgent, labels: string[]) => labels.every((l) => agent.labels.includes(l));

/**
 * The labels to report for a job no agent can take: those that the closest agent (the one
 * carrying most of the job's labels) lacks; every label when the queue has no online agent.
 */
function missingFor(labels: string[], agents: OnlineAgent[]): string[] {
  if (agents.some((a) => carries(a, labels))) return [];
  let best: string[] = labels;
  for (const a of agents) {
    const lacking = labels.filter((l) => !a.labels.includes(l));
    if (lacking.length < best.length) best = lacking;
  }
  return best;
}

/** Insight for each pending job, given in claim order per queue. */
export function queueInsight(pending: PendingJob[], agents: OnlineAgent[], durations: Map<string, number[]>): JobInsight[] {
  const ahead = new Map<string, PendingJob[]>();
  return pending.map((job) => {
    const queueAgents = agents.filter((a) => a.queue === job.queue);
    const capable = queueAgents.filter((a) => carries(a, job.labels));
    const before = ahead.get(job.queue) ?? [];
    ahead.set(job.queue, [...before, job]);
    const own = durations.get(job.durationKey) ?? [];
    let startsInMs: number | null = null;
    if (capable.length > 0) {
      // Jobs ahead compete only if one of this job's agents could take them.
      const competing = before.filter((b) => capable.some((a) => carries(a, b.labels)));
      const work = competing.reduce((sum, b) => sum + (median(durations.get(b.durationKey) ?? []) ?? 0), 0);
      const slots = capable.reduce((sum, a) => sum + Math.max(1, a.slots), 0);
      startsInMs = Math.round(work / slots);
    }
    return {
      jobAttemptId: job.jobAttemptId,
      queue: job.queue,
      position: before.length + 1,
      durationMs: median(own),
      samples: own.length,
      startsInMs,
      missingLabels: missingFor(job.labels, queueAgents),
      capableAgents: capable.length,
    };
  });
}
