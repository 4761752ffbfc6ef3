/**
 * Runs an outbox flush one at a time. A request while a flush runs makes it run once more when
 * it ends (so work added meanwhile is not left behind), and every caller can await the flush
 * that covers its request.
 */
export class SerialFlush {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly flushOnce: () => Promise<void>) {}

  request(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.flushOnce();
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }
}
