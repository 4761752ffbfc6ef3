/**
 * Counts the storage rows a DispatcherObject writes (SqlStorageCursor.rowsWritten), so tests and
 * BENCHMARKS.md can hold the hot path to its budget (issue 14.4). A cursor's count grows while it
 * is read; each is read to its end before the next statement, so the previous one is final when
 * the next exec starts.
 */
export class WriteCounter {
  private total = 0;
  private last: SqlStorageCursor<Record<string, SqlStorageValue>> | null = null;

  /** `sql` with every exec counted; everything else passes through. */
  wrap(sql: SqlStorage): SqlStorage {
    return new Proxy(sql, {
      get: (target, prop) => {
        if (prop === "exec") {
          return (query: string, ...bindings: unknown[]) => {
            this.settle();
            const cursor = target.exec(query, ...bindings);
            this.last = cursor;
            return cursor;
          };
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  private settle(): void {
    if (this.last) this.total += this.last.rowsWritten;
    this.last = null;
  }

  rowsWritten(): number {
    return this.total + (this.last?.rowsWritten ?? 0);
  }
}
