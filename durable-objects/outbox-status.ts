/**
 * Retry bookkeeping for a Durable Object's outboxes (D1 projection, dispatcher calls, lineage
 * delivery): how many times in a row a flush failed and when to try again. Kept in the object's
 * storage so a restart resumes the backoff instead of hammering a failing dependency.
 */
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_CAP_MS = 60_000;

export function backoffDelay(failures: number): number {
  return Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, failures - 1));
}

export class OutboxStatus {
  constructor(
    private readonly sql: SqlStorage,
    readonly name: string,
  ) {}

  private row(): { failures: number; next_at: number; last_error: string | null } | undefined {
    return this.sql
      .exec<{ failures: number; next_at: number; last_error: string | null }>(
        "SELECT failures, next_at, last_error FROM outbox_status WHERE name = ?",
        this.name,
      )
      .toArray()[0];
  }

  /** Records a failed flush; returns when to try again. */
  failed(now: number, error: unknown): number {
    const failures = (this.row()?.failures ?? 0) + 1;
    const nextAt = now + backoffDelay(failures);
    const message = error instanceof Error ? error.message : String(error);
    this.sql.exec(
      "INSERT OR REPLACE INTO outbox_status (name, failures, next_at, last_error) VALUES (?, ?, ?, ?)",
      this.name,
      failures,
      nextAt,
      message.slice(0, 1000),
    );
    return nextAt;
  }

  succeeded(): void {
    this.sql.exec("DELETE FROM outbox_status WHERE name = ?", this.name);
  }

  /** When a failing outbox may try again; null when it is not failing. */
  retryAt(): number | null {
    return this.row()?.next_at ?? null;
  }

  /** Whether a failing outbox must still wait before trying again. */
  backingOff(now: number): boolean {
    const retryAt = this.retryAt();
    return retryAt !== null && retryAt > now;
  }

  failures(): number {
    return this.row()?.failures ?? 0;
  }

  lastError(): string | null {
    return this.row()?.last_error ?? null;
  }
}
