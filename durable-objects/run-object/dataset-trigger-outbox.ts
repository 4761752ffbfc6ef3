/**
 * Lineage in from the run's own jobs (docs/lineage.md, "Triggers"): a job attempt's COMPLETE
 * event with `lineage` outputs is stored in D1 with the events received over HTTP and fires the
 * `on: dataset` triggers it matches — without an HTTP round trip, through the same code
 * (platform/lineage/). The event is put in this outbox inside the command's storage transaction
 * (LineageExtension hands its events over from its own record()), so a crash or a D1 outage
 * loses nothing: the outbox is delivered in order after each commit and from the alarm, with
 * the same backoff as the other outboxes. Each row is stored once (`stored` marks it), then its
 * triggers fired; firing twice starts one run per (event, pipeline) anyway (lineage_triggers).
 */
import type { RunEvent } from "../../domain/lineage/types.ts";
import type { IngestedEvent } from "../../domain/lineage/ingest.ts";
import type { RunState } from "../../domain/run-engine/index.ts";
import { isoTime } from "../../domain/time.ts";
import { chainKey } from "../../domain/triggers/dataset.ts";
import type { Env } from "../../platform/env.ts";
import { type CompletedRun, fireDatasetTriggers } from "../../platform/lineage/dataset-triggers.ts";
import { storeLineageEvent } from "../../platform/lineage/store.ts";
import { OutboxStatus } from "../outbox-status.ts";
import { SerialFlush } from "../serial-flush.ts";
import type { Committed, RunExtension } from "./extension.ts";

const MIGRATIONS = [
  `CREATE TABLE dataset_trigger_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, completed TEXT NOT NULL, stored INTEGER NOT NULL DEFAULT 0);`,
];

/** When rows wait and nothing failed yet, the alarm looks again this soon (a lost kick). */
const SAFETY_RETRY_MS = 1000;

type Row = { seq: number; body: string; completed: string; stored: number };

export class DatasetTriggerOutbox implements RunExtension {
  readonly migrations = { name: "dataset_triggers", statements: MIGRATIONS };
  private readonly status: OutboxStatus;
  private readonly flush: SerialFlush;

  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
  ) {
    this.status = new OutboxStatus(sql, "dataset_triggers");
    this.flush = new SerialFlush(() => this.deliver());
  }

  /** Inside the command's transaction: keeps the job attempts' COMPLETE events that name outputs. */
  enqueue(events: readonly RunEvent[], state: RunState): void {
    const { run } = state;
    for (const event of events) {
      if (event.eventType !== "COMPLETE" || event.job.facets.jobType.jobType !== "JOB" || event.outputs.length === 0) continue;
      const root = event.run.facets.parent?.root;
      const completed: Omit<CompletedRun, "allowed"> = {
        namespace: event.job.namespace,
        name: event.job.name,
        runId: event.run.runId,
        outputs: event.outputs.map((o) => ({ namespace: o.namespace, name: o.name })),
        ...(root ? { root: { namespace: root.job.namespace, name: root.job.name, runId: root.run.runId } } : {}),
        // The pipelines upstream of this run, and this run's own: none of them may start again.
        chain: [...(run.upstream?.chain ?? []), chainKey(run.project, run.pipeline)],
        ymRunId: run.id,
      };
      this.sql.exec("INSERT INTO dataset_trigger_outbox (body, completed) VALUES (?, ?)", JSON.stringify(event), JSON.stringify(completed));
    }
  }

  private hasRows(): boolean {
    return this.sql.exec("SELECT 1 FROM dataset_trigger_outbox LIMIT 1").toArray().length > 0;
  }

  committed(_committed: Committed): void {
    if (this.hasRows() && !this.status.backingOff(Date.now())) void this.flush.request();
  }

  nextAlarmAt(now: number): number | null {
    if (!this.hasRows()) return null;
    return this.status.retryAt() ?? now + SAFETY_RETRY_MS;
  }

  async alarm(now: number): Promise<void> {
    if (this.hasRows() && !this.status.backingOff(now)) await this.flush.request();
  }

  /** Delivers the outbox head first; a failure stops there and the alarm retries with backoff. */
  private async deliver(): Promise<void> {
    for (;;) {
      if (this.status.backingOff(Date.now())) return;
      const head = this.sql.exec<Row>("SELECT seq, body, completed, stored FROM dataset_trigger_outbox ORDER BY seq LIMIT 1").toArray()[0];
      if (!head) return;
      try {
        if (!head.stored) {
          const event = JSON.parse(head.body) as IngestedEvent["event"];
          await storeLineageEvent(this.env, { kind: "run", event } as IngestedEvent, head.body, "yardmaster", Date.now());
          this.sql.exec("UPDATE dataset_trigger_outbox SET stored = 1 WHERE seq = ?", head.seq);
        }
        const results = await fireDatasetTriggers(this.env, JSON.parse(head.completed) as CompletedRun);
        for (const r of results) {
          if (r.outcome !== "started") console.warn(`dataset trigger ${r.project}/${r.pipeline} from ${head.seq}: ${r.outcome}: ${r.message}`);
        }
        this.sql.exec("DELETE FROM dataset_trigger_outbox WHERE seq = ?", head.seq);
        this.status.succeeded();
      } catch (error) {
        const retryAt = this.status.failed(Date.now(), error);
        console.warn(`dataset triggers of outbox row ${head.seq} not fired, retry at ${isoTime(retryAt)}: ${String(error)}`);
        return;
      }
    }
  }
}
