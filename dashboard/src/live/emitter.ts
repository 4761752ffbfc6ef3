/** A tiny typed listener set. */
export class Emitter<T> {
  private readonly listeners = new Set<(value: T) => void>();
  last: T | undefined;

  on(listener: (value: T) => void, replayLast = true): () => void {
    this.listeners.add(listener);
    if (replayLast && this.last !== undefined) listener(this.last);
    return () => void this.listeners.delete(listener);
  }

  emit(value: T): void {
    this.last = value;
    for (const l of this.listeners) l(value);
  }
}

/** A feed's errors: whatever was thrown, handed on as an Error. */
export class ErrorEmitter extends Emitter<Error> {
  fail(thrown: unknown): void {
    this.emit(thrown instanceof Error ? thrown : new Error(String(thrown)));
  }
}
