/**
 * Runs a job's steps as their `needs` graph says: every step whose needs are all done starts
 * at once (so independent steps run in parallel). A need is met by a SUCCESS, or by a FAILED
 * step that has continueOnError. A step whose need failed otherwise (or was not run) is not
 * run: it is skipped as KILLED with reason `needs_failed`, and so on down the graph. Once the
 * job is being stopped, every step not yet started is skipped with the stop's reason.
 */

export type StepFinal = "SUCCESS" | "FAILED" | "KILLED";

export interface GraphStep {
  id: string;
  needs: readonly string[];
  continueOnError: boolean;
}

export interface StepDone {
  status: StepFinal;
  /** Set when the step never ran. */
  skipped?: string;
}

export interface GraphCallbacks<S extends GraphStep> {
  /** Runs the step (with its retries) and says how it ended. */
  run(step: S): Promise<StepFinal>;
  /** The step will not run (reason: `needs_failed` or the stop's reason). */
  skip(step: S, reason: string): void;
  /** The reason the job is being stopped, or null while it runs. */
  stopReason(): string | null;
}

export async function runStepGraph<S extends GraphStep>(
  steps: readonly S[],
  callbacks: GraphCallbacks<S>,
): Promise<Map<string, StepDone>> {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const done = new Map<string, StepDone>();
  const pending = new Set(steps.map((s) => s.id));
  const running = new Map<string, Promise<void>>();

  const meets = (needId: string): boolean | undefined => {
    const need = byId.get(needId);
    if (!need) return false; // unknown need: can never be met
    const d = done.get(needId);
    if (!d) return undefined; // not yet
    return d.status === "SUCCESS" || (d.status === "FAILED" && need.continueOnError && !d.skipped);
  };

  const skip = (step: S, reason: string) => {
    pending.delete(step.id);
    done.set(step.id, { status: "KILLED", skipped: reason });
    callbacks.skip(step, reason);
  };

  for (;;) {
    // Settle everything that can be decided now; skipping one step may decide others.
    let changed = true;
    while (changed) {
      changed = false;
      const stop = callbacks.stopReason();
      for (const step of steps) {
        if (!pending.has(step.id)) continue;
        if (stop) {
          skip(step, stop);
          changed = true;
          continue;
        }
        const states = step.needs.map(meets);
        if (states.some((s) => s === false)) {
          skip(step, "needs_failed");
          changed = true;
        } else if (states.every((s) => s === true)) {
          pending.delete(step.id);
          const p = callbacks
            .run(step)
            .catch((): StepFinal => "FAILED")
            .then((status) => {
              done.set(step.id, { status });
              running.delete(step.id);
            });
          running.set(step.id, p);
          changed = true;
        }
      }
    }
    if (running.size === 0) {
      if (pending.size === 0) break;
      // Nothing runs and nothing can start: the rest wait on each other (a cycle).
      for (const step of steps) if (pending.has(step.id)) skip(step, "needs_failed");
      break;
    }
    await Promise.race(running.values());
  }
  return done;
}
