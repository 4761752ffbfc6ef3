/**
 * Commit statuses to GitHub (docs/triggers.md), as a RunExtension with its own outbox, like
 * lineage events:
 *  - record(): inside the command's storage transaction, the statuses its transitions call for
 *    (domain/commit-status.ts) are appended — one exists iff its state change committed.
 *  - committed() and alarm(): sent in order, one at a time. A 2xx marks it sent; a 4xx (but
 *    408/429) marks it rejected — kept with the answer, written on the project for its page, and
 *    never sent again — and delivery carries on; a 5xx, 408, 429, timeout or network error stops
 *    the queue there and retries with capped exponential backoff for as long as it takes, so the
 *    statuses of a commit arrive in order (pending before its end) and none is lost.
 * The token is the project's GITHUB_TOKEN secret, kept encrypted in the run's secrets table under
 * a name no template can reach; it is decrypted only to send, and never given to a job.
 */
import { type CommitStatus, commitStatusesFor, runPageUrl } from "../../domain/commit-status.ts";
import { deliveryOutcome } from "../../domain/lineage/index.ts";
import { decryptSecret } from "../../platform/crypto.ts";
import type { Env } from "../../platform/env.ts";
import { OutboxStatus } from "../outbox-status.ts";
import { SerialFlush } from "../serial-flush.ts";
import type { Committed, RunExtension } from "./extension.ts";

/** What a run needs to report statuses, given at its creation. */
export interface StatusTarget {
  /** GitHub `owner/name`. */
  repository: string;
  /** Base of the run page's URL (YM_PUBLIC_URL or the request's origin); null: no target_url. */
  origin: string | null;
  /** The project's GITHUB_TOKEN, encrypted as stored; null when the project has none. */
  token: string | null;
}

/** The run's secrets-table name of the status token: not an identifier, so `${{ secrets.* }}` cannot name it. */
export const STATUS_TOKEN_ROW = "status:GITHUB_TOKEN";

const SEND_TIMEOUT_MS = 10_000;
const SAFETY_RETRY_MS = 1000;
const EXCERPT = 500;

export const COMMIT_STATUS_MIGRATIONS = [
  `CREATE TABLE commit_status_target (id INTEGER PRIMARY KEY CHECK (id = 1), repository TEXT NOT NULL, origin TEXT);
   CREATE TABLE commit_statuses (
     seq INTEGER PRIMARY KEY AUTOINCREMENT, sha TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0, http_status INTEGER, error TEXT, recorded_at INTEGER NOT NULL, sent_at INTEGER);`,
];

type Row = { seq: number; sha: string; body: string; state: string; attempts: number; http_status: number | null; error: string | null };

export interface CommitStatusRecord {
  seq: number;
  sha: string;
  body: CommitStatus["body"];
  delivery: "pending" | "sent" | "rejected";
  attempts: number;
  httpStatus: number | null;
  error: string | null;
}

export type Fetcher = (input: string, init: RequestInit) => Promise<Response>;

export class CommitStatusExtension implements RunExtension {
  readonly migrations = { name: "commit-statuses", statements: COMMIT_STATUS_MIGRATIONS };
  private readonly status: OutboxStatus;
  private readonly flush: SerialFlush;

  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
    private readonly fetcher: Fetcher = (input, init) => fetch(input, init),
  ) {
    this.status = new OutboxStatus(sql, "commit-statuses");
    this.flush = new SerialFlush(() => this.deliver());
  }

  /** Keeps the target and the token with the run. Call with the run's creation, before any await. */
  configure(target: StatusTarget): void {
    this.sql.exec("INSERT OR REPLACE INTO commit_status_target (id, repository, origin) VALUES (1, ?, ?)", target.repository, target.origin);
    if (target.token) this.sql.exec("INSERT OR REPLACE INTO run_secrets (name, value) VALUES (?, ?)", STATUS_TOKEN_ROW, target.token);
  }

  private target(): { repository: string; origin: string | null } | undefined {
    return this.sql.exec<{ repository: string; origin: string | null }>("SELECT repository, origin FROM commit_status_target WHERE id = 1").toArray()[0];
  }

  record(committed: Committed): void {
    const target = this.target();
    if (!target) return;
    const url = target.origin ? runPageUrl(target.origin, committed.state.run.id) : null;
    for (const s of commitStatusesFor(committed.state, committed.transitions, url)) {
      this.sql.exec("INSERT INTO commit_statuses (sha, body, state, recorded_at) VALUES (?, ?, 'pending', ?)", s.sha, JSON.stringify(s.body), committed.now);
    }
  }

  committed(committed: Committed): void {
    if (this.hasPending() && !this.status.backingOff(committed.now)) void this.flush.request();
  }

  nextAlarmAt(now: number): number | null {
    return this.hasPending() ? (this.status.retryAt() ?? now + SAFETY_RETRY_MS) : null;
  }

  async alarm(now: number): Promise<void> {
    if (this.hasPending() && !this.status.backingOff(now)) await this.flush.request();
  }

  list(): CommitStatusRecord[] {
    return this.sql
      .exec<Row>("SELECT seq, sha, body, state, attempts, http_status, error FROM commit_statuses ORDER BY seq")
      .toArray()
      .map((r) => ({
        seq: r.seq,
        sha: r.sha,
        body: JSON.parse(r.body),
        delivery: r.state as CommitStatusRecord["delivery"],
        attempts: r.attempts,
        httpStatus: r.http_status,
        error: r.error,
      }));
  }

  private hasPending(): boolean {
    return this.sql.exec("SELECT 1 FROM commit_statuses WHERE state = 'pending' LIMIT 1").toArray().length > 0;
  }

  /** Sends the queue from its head until it is empty or a try fails (then the alarm retries). */
  private async deliver(): Promise<void> {
    for (;;) {
      if (this.status.backingOff(Date.now())) return;
      const head = this.sql.exec<Row>("SELECT seq, sha, body, state, attempts, http_status, error FROM commit_statuses WHERE state = 'pending' ORDER BY seq LIMIT 1").toArray()[0];
      const target = this.target();
      if (!head || !target) return;
      const result = await this.send(target.repository, head);
      const now = Date.now();
      if (result.outcome === "retry") {
        this.sql.exec("UPDATE commit_statuses SET attempts = attempts + 1, http_status = ?, error = ? WHERE seq = ?", result.httpStatus, result.error, head.seq);
        const retryAt = this.status.failed(now, new Error(result.error ?? "failed"));
        console.warn(`commit status ${head.seq} for ${target.repository}@${head.sha} not delivered, retry at ${new Date(retryAt).toISOString()}: ${result.error}`);
        return;
      }
      const state = result.outcome === "sent" ? "sent" : "rejected";
      this.sql.exec(
        "UPDATE commit_statuses SET state = ?, attempts = attempts + 1, http_status = ?, error = ?, sent_at = ? WHERE seq = ?",
        state,
        result.httpStatus,
        result.error,
        state === "sent" ? now : null,
        head.seq,
      );
      this.status.succeeded();
      await this.noteOnProject(result.outcome === "sent" ? null : { at: now, httpStatus: result.httpStatus, message: result.error ?? "refused" });
    }
  }

  private async send(repository: string, row: Row): Promise<{ outcome: "sent" | "retry" | "rejected"; httpStatus: number | null; error: string | null }> {
    const encrypted = this.sql.exec<{ value: string }>("SELECT value FROM run_secrets WHERE name = ?", STATUS_TOKEN_ROW).toArray()[0]?.value;
    if (!encrypted) return { outcome: "rejected", httpStatus: null, error: "the project has no GITHUB_TOKEN secret: add one to report commit statuses" };
    let token: string;
    try {
      token = await decryptSecret(this.env, encrypted);
    } catch (error) {
      return { outcome: "rejected", httpStatus: null, error: `the GITHUB_TOKEN secret cannot be decrypted (was YM_ENCRYPTION_KEY changed?): ${String(error)}` };
    }
    const api = (this.env.GITHUB_API_URL || "https://api.github.com").replace(/\/+$/, "");
    let response: Response;
    try {
      response = await this.fetcher(`${api}/repos/${repository}/statuses/${row.sha}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          accept: "application/vnd.github+json",
          "x-github-api-version": "2022-11-28",
          "content-type": "application/json",
          "user-agent": "yardmaster",
        },
        body: row.body,
        signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
      });
    } catch (error) {
      return { outcome: "retry", httpStatus: null, error: (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, EXCERPT) };
    }
    const outcome = deliveryOutcome(response.status);
    const text = outcome === "sent" ? "" : (await response.text().catch(() => "")).slice(0, EXCERPT);
    if (outcome === "sent") await response.body?.cancel().catch(() => {});
    return { outcome, httpStatus: response.status, error: outcome === "sent" ? null : `HTTP ${response.status}${text ? `: ${text}` : ""}` };
  }

  /** The project page shows the last refusal (null: statuses get through again). Best effort. */
  private async noteOnProject(problem: { at: number; httpStatus: number | null; message: string } | null): Promise<void> {
    const run = this.sql.exec<{ doc: string }>("SELECT doc FROM run LIMIT 1").toArray()[0];
    if (!run) return;
    const { id, number, projectId } = JSON.parse(run.doc) as { id: string; number: number; projectId: string };
    try {
      if (problem) {
        await this.env.DB.prepare("UPDATE projects SET statuses_error = ? WHERE id = ?")
          .bind(JSON.stringify({ ...problem, runId: id, runNumber: number }), projectId)
          .run();
      } else {
        await this.env.DB.prepare("UPDATE projects SET statuses_error = NULL WHERE id = ? AND statuses_error IS NOT NULL").bind(projectId).run();
      }
    } catch (error) {
      console.warn(`run ${id}: could not note the commit status outcome on the project: ${String(error)}`);
    }
  }
}
