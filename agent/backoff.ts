/**
 * Exponential backoff with jitter, and an abortable sleep.
 *
 * The delay before retry n (0-based) is drawn uniformly from [d/2, d] where
 * d = min(capMs, baseMs * factor^n) ("equal jitter"): it grows, never exceeds the cap, and
 * two agents that failed at the same moment do not retry in lockstep.
 */

export interface BackoffOptions {
  baseMs?: number;
  capMs?: number;
  factor?: number;
  /** Returns a number in [0, 1); injectable for tests. */
  random?: () => number;
}

export class Backoff {
  readonly baseMs: number;
  readonly capMs: number;
  readonly factor: number;
  private readonly random: () => number;
  private failures = 0;

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? 500;
    this.capMs = options.capMs ?? 10_000;
    this.factor = options.factor ?? 2;
    this.random = options.random ?? Math.random;
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.failures;
  }

  /** The ceiling of the next delay, before jitter. */
  ceiling(): number {
    // Math.min first so that a long outage cannot overflow to Infinity.
    const exp = Math.min(this.failures, 60);
    return Math.min(this.capMs, this.baseMs * this.factor ** exp);
  }

  /** The next delay in milliseconds; each call counts one more failure. */
  next(): number {
    const ceiling = this.ceiling();
    this.failures += 1;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.failures = 0;
  }
}

export class AbortError extends Error {
  constructor(message = "aborted") {
    super(message);
    this.name = "AbortError";
  }
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || (err as { code?: string }).code === "ABORT_ERR");
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(reasonText(signal.reason));
}

function reasonText(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  if (typeof reason === "string") return reason;
  return "aborted";
}

/** Resolves after `ms`, or rejects with AbortError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError(reasonText(signal.reason)));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError(reasonText(signal?.reason)));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
