/**
 * What both REST feeds do between reads: one timer, rescheduled by each read; while the page is
 * hidden and something is already shown, a read is put off (nobody is looking, the server is
 * spared); and a view is handed on only when it changed.
 */
import type { Emitter } from "./emitter.ts";

export interface Poller {
  readonly closed: boolean;
  /** The next read in `ms` (replacing any scheduled one); nothing once closed. */
  schedule(ms: number): void;
  close(): void;
}

/** Reads now, then whenever `read` schedules the next; a hidden page with `shown` waits `hiddenMs`. */
export function poller(read: (p: Poller) => Promise<void>, hidden: { shown: () => boolean; hiddenMs: number }): Poller {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const p = {
    closed: false,
    schedule(ms: number) {
      if (p.closed) return;
      clearTimeout(timer);
      timer = setTimeout(tick, ms);
    },
    close() {
      p.closed = true;
      clearTimeout(timer);
    },
  };
  function tick() {
    if (p.closed) return;
    if (document.visibilityState !== "visible" && hidden.shown()) return p.schedule(hidden.hiddenMs);
    void read(p);
  }
  tick();
  return p;
}

/**
 * Emits a view only when it differs from the last one emitted, `ticking` aside: a field that
 * changes on every read (a live duration) and that the page ticks itself.
 */
export function emitWhenChanged<T>(emitter: Emitter<T>, ticking: string): (view: T) => void {
  let lastJson = "";
  return (view) => {
    const json = JSON.stringify(view, (k, v) => (k === ticking ? undefined : v));
    if (json === lastJson) return;
    lastJson = json;
    emitter.emit(view);
  };
}
