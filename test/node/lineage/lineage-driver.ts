/**
 * The pure run engine driven as the RunObject drives it (EngineDriver), with lineage events
 * built from every committed command exactly as the lineage extension does: the cycle state
 * comes from the events recorded so far, the errorMessage's log lines from the job logs.
 */
import { uuidv7 } from "uuidv7";
import { type CycleState, lineageEvents, logTail, type RunEvent, TERMINAL_EVENT_TYPES } from "../../../domain/lineage/index.ts";
import type { Pipeline } from "../../../domain/pipeline/types.ts";
import { type CommandResult, DEFAULT_SETTINGS, type EngineContext, type Effect, type RunInfo } from "../../../domain/run-engine/index.ts";
import { EngineDriver } from "../../support/engine-driver.ts";

export class LineageDriver extends EngineDriver {
  readonly events: RunEvent[] = [];
  readonly dropped: { runId: string; type: string }[] = [];
  /** Job logs by job attempt id, as the agent would have sent them. */
  readonly logs = new Map<string, string>();

  constructor(definition: Pipeline, run: Partial<RunInfo> = {}) {
    super(definition);
    // The base driver builds a fixed run; give it what this test needs, then record its creation.
    Object.assign(this.state.run, { id: uuidv7(), ...run });
    this.record(this.effects);
  }

  override ctx(): EngineContext {
    return { now: this.now, newId: uuidv7, settings: DEFAULT_SETTINGS };
  }

  override apply<T>(result: CommandResult<T>): CommandResult<T> {
    super.apply(result);
    if (result.ok) this.record(result.effects);
    return result;
  }

  private cycle(runId: string): CycleState {
    const types = this.events.filter((e) => e.run.runId === runId).map((e) => e.eventType);
    return { started: types.includes("START"), ended: types.some((t) => TERMINAL_EVENT_TYPES.includes(t)) };
  }

  private record(effects: Effect[]): void {
    const batch = lineageEvents(this.state, effects, {
      cycle: (id) => this.cycle(id),
      logTail: (id) => {
        const log = this.logs.get(id);
        return log === undefined ? null : logTail(new TextEncoder().encode(log), true);
      },
    });
    this.events.push(...batch.events);
    this.dropped.push(...batch.dropped);
  }

  /** Moves the clock on. */
  later(ms = 1000): this {
    this.now += ms;
    return this;
  }

  /** The events of one runId, as their types. */
  typesOf(runId: string): string[] {
    return this.events.filter((e) => e.run.runId === runId).map((e) => e.eventType);
  }

  eventsOf(runId: string): RunEvent[] {
    return this.events.filter((e) => e.run.runId === runId);
  }
}
