/**
 * The state machine against DESIGN.md §3, pair by pair. The expected table below is written
 * from the design's text, not read from `TRANSITIONS`, so a drift in either shows up here:
 *
 *   CREATED → RUNNING → SUCCESS | WARNING | FAILED; any non-terminal → KILLING → KILLED;
 *   CREATED → KILLED; a terminal FAILED | KILLED | WARNING run → RESTARTED → (new attempt) CREATED;
 *   and (§7, re-run of chosen jobs) a SUCCESS run → RESTARTED.
 *   Terminal: SUCCESS, WARNING, FAILED, KILLED. Anything else is refused.
 */
import { describe, expect, it } from "vitest";
import {
  assertTransition,
  canTransition,
  displayStatus,
  IllegalTransitionError,
  isTerminal,
  type State,
  STATES,
  summarize,
  TERMINAL_STATES,
} from "../../../domain/states.ts";

const ALL: State[] = ["CREATED", "RUNNING", "SUCCESS", "WARNING", "FAILED", "KILLING", "KILLED", "RESTARTED"];
const TERMINAL: State[] = ["SUCCESS", "WARNING", "FAILED", "KILLED"];
const NON_TERMINAL = ALL.filter((s) => !TERMINAL.includes(s));

/** Every legal (from, to), straight from the sentences of §3. */
const LEGAL = new Set<string>([
  // CREATED → RUNNING → SUCCESS | WARNING | FAILED
  "CREATED>RUNNING",
  "RUNNING>SUCCESS",
  "RUNNING>WARNING",
  "RUNNING>FAILED",
  // any non-terminal → KILLING (a state does not move to itself) → KILLED
  ...NON_TERMINAL.filter((s) => s !== "KILLING").map((s) => `${s}>KILLING`),
  "KILLING>KILLED",
  // CREATED → KILLED
  "CREATED>KILLED",
  // a terminal FAILED | KILLED | WARNING run → RESTARTED → CREATED
  "FAILED>RESTARTED",
  "KILLED>RESTARTED",
  "WARNING>RESTARTED",
  "RESTARTED>CREATED",
  // DESIGN.md §7: a SUCCESS run's chosen jobs can be re-run (runs only: Txn.move refuses others)
  "SUCCESS>RESTARTED",
]);

describe("state machine (DESIGN.md §3)", () => {
  it("has exactly the eight states of the design", () => {
    expect([...STATES].sort()).toEqual([...ALL].sort());
    expect([...TERMINAL_STATES].sort()).toEqual([...TERMINAL].sort());
  });

  const pairs = ALL.flatMap((from) => ALL.map((to) => [from, to] as const));
  it.each(pairs)("%s → %s is legal exactly when the design says so", (from, to) => {
    const legal = LEGAL.has(`${from}>${to}`);
    expect(canTransition(from, to)).toBe(legal);
    if (legal) {
      expect(() => assertTransition("job attempt x", from, to)).not.toThrow();
    } else {
      let thrown: unknown;
      try {
        assertTransition("job attempt x", from, to);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(IllegalTransitionError);
      expect((thrown as Error).message).toBe(`job attempt x cannot go from ${from} to ${to}`);
    }
  });

  it("checks all 64 pairs, 14 of them legal", () => {
    expect(pairs).toHaveLength(64);
    expect(pairs.filter(([f, t]) => canTransition(f, t))).toHaveLength(LEGAL.size);
    expect(LEGAL.size).toBe(14);
  });

  it("a terminal state leaves only for RESTARTED (a run's re-run)", () => {
    for (const from of TERMINAL) {
      expect(isTerminal(from)).toBe(true);
      const exits = ALL.filter((to) => canTransition(from, to));
      expect(exits).toEqual(["RESTARTED"]);
    }
    for (const state of NON_TERMINAL) expect(isTerminal(state)).toBe(false);
  });

  it("the only way into RESTARTED is from an end (SUCCESS only for a re-run of chosen jobs)", () => {
    expect(ALL.filter((from) => canTransition(from, "RESTARTED")).sort()).toEqual(["FAILED", "KILLED", "SUCCESS", "WARNING"]);
  });

  it("KILLED is reached only through KILLING, or straight from CREATED", () => {
    expect(ALL.filter((from) => canTransition(from, "KILLED")).sort()).toEqual(["CREATED", "KILLING"]);
  });
});

describe("displayStatus: the dashboard's words", () => {
  const words: Record<State, string> = {
    CREATED: "Queued",
    RESTARTED: "Queued",
    RUNNING: "Running",
    KILLING: "Running",
    SUCCESS: "Succeeded",
    WARNING: "Succeeded",
    FAILED: "Failed",
    KILLED: "Cancelled",
  };
  it.each(ALL)("%s", (state) => {
    expect(displayStatus(state)).toBe(words[state]);
  });
});

describe("summarize: how finished jobs add up to an attempt's end", () => {
  it("FAILED if any failed, else KILLED if any was killed, else WARNING if any warned, else SUCCESS", () => {
    expect(summarize(["SUCCESS", "SUCCESS"])).toBe("SUCCESS");
    expect(summarize(["SUCCESS", "WARNING"])).toBe("WARNING");
    expect(summarize(["WARNING", "KILLED", "SUCCESS"])).toBe("KILLED");
    expect(summarize(["KILLED", "FAILED", "WARNING"])).toBe("FAILED");
    expect(summarize(["FAILED"])).toBe("FAILED");
  });

  it("an empty set of jobs succeeded", () => {
    expect(summarize([])).toBe("SUCCESS");
  });

  it("does not depend on order", () => {
    const states: State[] = ["SUCCESS", "WARNING", "KILLED", "FAILED"];
    const rank = (s: State) => ["FAILED", "KILLED", "WARNING", "SUCCESS"].indexOf(s);
    // Every non-empty subset, in two orders: the worst state by the design's order wins.
    for (let mask = 1; mask < 16; mask++) {
      const subset = states.filter((_, i) => mask & (1 << i));
      const worst = subset.slice().sort((a, b) => rank(a) - rank(b))[0];
      expect(summarize(subset)).toBe(worst);
      expect(summarize(subset.slice().reverse())).toBe(worst);
    }
  });
});
