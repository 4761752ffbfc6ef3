import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cronProblem, dueSlot, latestSlotAtOrBefore, nextSlotAfter } from "../../../domain/triggers/schedule.ts";

const t = (iso: string) => Date.parse(iso);

describe("cron slots (UTC)", () => {
  it("finds the next and latest slots of a weekday cron", () => {
    const cron = "0 3 * * 1-5";
    // 2026-11-20 is a Friday; the next weekday 03:00 is Monday the 23rd.
    expect(nextSlotAfter(cron, t("2026-11-20T03:00:00Z"))).toBe(t("2026-11-23T03:00:00Z"));
    expect(latestSlotAtOrBefore(cron, t("2026-11-23T03:00:00Z"))).toBe(t("2026-11-23T03:00:00Z"));
    expect(latestSlotAtOrBefore(cron, t("2026-11-23T02:59:59Z"))).toBe(t("2026-11-20T03:00:00Z"));
  });

  it("fires nothing before the next slot, the slot itself when due, and only the latest after a gap", () => {
    const cron = "*/15 * * * *";
    const nextAt = t("2026-11-23T10:15:00Z");
    expect(dueSlot(cron, nextAt, t("2026-11-23T10:14:00Z"))).toBeNull();
    expect(dueSlot(cron, nextAt, t("2026-11-23T10:15:00Z"))).toEqual({ slot: nextAt, skipped: false, nextAt: t("2026-11-23T10:30:00Z") });
    expect(dueSlot(cron, nextAt, t("2026-11-23T15:07:00Z"))).toEqual({
      slot: t("2026-11-23T15:00:00Z"),
      skipped: true,
      nextAt: t("2026-11-23T15:15:00Z"),
    });
  });

  it("never fires a slot twice and never fires one in the future, whatever the ticks", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 6 * 60 * 60_000 }), { minLength: 1, maxLength: 40 }), (offsets) => {
        const cron = "*/7 * * * *";
        const start = t("2026-11-23T00:00:00Z");
        let nextAt = nextSlotAfter(cron, start)!;
        const fired: number[] = [];
        for (const now of offsets.map((o) => start + o).sort((a, b) => a - b)) {
          const due = dueSlot(cron, nextAt, now);
          if (!due) continue;
          expect(due.slot).toBeLessThanOrEqual(now);
          fired.push(due.slot);
          nextAt = due.nextAt!;
        }
        expect(new Set(fired).size).toBe(fired.length);
        expect([...fired].sort((a, b) => a - b)).toEqual(fired);
      }),
    );
  });

  it("explains a cron that cannot schedule", () => {
    expect(cronProblem("0 3 * * 1-5")).toBeNull();
    expect(cronProblem("99 * * * *")).toMatch(/not a valid cron expression: .*minute/i);
    expect(cronProblem("0 0 31 2 *")).toMatch(/never run/);
  });
});
