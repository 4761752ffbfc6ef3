/**
 * Runs a job's steps as their `needs` graph says: every step whose needs are all done starts
 * at once (so independent steps run in parallel). A need is met by a SUCCESS, or by a FAILED
 * step that has continueOnError. A step whose need failed otherwise (or was not run) is not
 * run: it is skipped as KILLED with reason `needs_failed`, and so on down the graph. Once the
 * job is being stopped, every step not yet started is skipped with the stop's reason.
 * A step's `if:` decides it once its needs allow (see `usesStatus` below): false → skipped as
 * KILLED with reason `skipped`, which does not hold back the steps after it.
 */
import { evaluateCondition, type ExprValue, storedCondition } from "../domain/expressions.ts";

export type StepFinal = "SUCCESS" | "FAILED" | "KILLED";

export interface GraphStep {
  id: string;
  needs: readonly string[];
  continueOnError: boolean;
  /** The step's `if:` (domain/expressions.ts); absent = `success()`. */
  if?: string;
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
  /** A context path a condition reads other than `steps.<id>.result` (run, params, needs, step outputs). */
  lookup?(path: string[]): ExprValue | undefined;
}

/** `steps.<id>.result`, in GitHub Actions' words. */
function resultWord(d: StepDone | undefined, continueOnError: boolean): string {
  if (!d) return "pending";
  if (d.status === "SUCCESS" || (d.status === "FAILED" && continueOnError && !d.skipped)) return "success";
  if (d.status === "FAILED") return "failure";
  return d.skipped === "skipped" || d.skipped === "needs_failed" ? "skipped" : "cancelled";
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
    // A step skipped by its condition does not hold the next ones back (as in GitHub Actions).
    return d.status === "SUCCESS" || d.skipped === "skipped" || (d.status === "FAILED" && need.continueOnError && !d.skipped);
  };

  /** Whether a step upstream of `step` failed (not tolerated by continue-on-error). */
  const upstreamFailed = (step: S): boolean => {
    const seen = new Set<string>();
    const stack = [...step.needs];
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      const need = byId.get(id);
      if (!need) continue;
      if (done.get(id)?.status === "FAILED" && !need.continueOnError && !done.get(id)?.skipped) return true;
      stack.push(...need.needs);
    }
    return false;
  };

  /** The step's condition, now that its needs allow deciding it. */
  const holds = (step: S, success: boolean): boolean => {
    if (step.if === undefined) return success;
    const condition = storedCondition(step.if);
    if (!condition) return false;
    return evaluateCondition(condition, {
      // A stopped job runs no more steps, so cancelled() is never true when a step is decided.
      status: { success, failure: upstreamFailed(step), cancelled: false, always: true },
      lookup: (path) => {
        const [root, id, kind] = path;
        if (root === "steps" && kind === "result" && path.length === 3) return resultWord(done.get(id!), byId.get(id!)?.continueOnError ?? false);
        return callbacks.lookup?.(path);
      },
    });
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
        // With a status function (failure(), always(), …) a step waits for its needs to end,
        // whatever the outcome; without one its needs must succeed.
        const usesStatus = step.if !== undefined && (storedCondition(step.if)?.usesStatus ?? false);
        if (!usesStatus && states.some((s) => s === false)) {
          skip(step, "needs_failed");
          changed = true;
        } else if (usesStatus ? step.needs.every((n) => done.has(n)) : states.every((s) => s === true)) {
          if (!holds(step, states.every((s) => s === true))) {
            skip(step, "skipped");
            changed = true;
            continue;
          }
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
