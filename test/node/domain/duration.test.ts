import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { formatDuration, parseDuration } from "../../../domain/pipeline/duration.ts";

describe("parseDuration", () => {
  it.each([
    ["10m", 600_000],
    ["1h30m", 5_400_000],
    ["45s", 45_000],
    ["500ms", 500],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    ["1.5s", 1_500],
    ["1h0m5s", 3_605_000],
    ["0s", 0],
    [" 10m ", 600_000],
  ])("reads %j as %d ms", (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, ms });
  });

  it("refuses a bare number, suggesting explicit units (a bare number is ambiguous)", () => {
    const result = parseDuration("10");
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toBe('duration "10" has no unit; write 10s for seconds or 10m for minutes');
  });

  it.each(["", "m", "10x", "10 m", "-5m", "1h 30m", "5m5m", "30m1h", "1e3s", "ten minutes", "10mm"])(
    "refuses %j",
    (text) => {
      expect(parseDuration(text).ok).toBe(false);
    },
  );

  it("refuses a duration past the safe integer range", () => {
    expect(parseDuration("99999999999999999999d").ok).toBe(false);
  });
});

describe("formatDuration", () => {
  it.each([
    [5_400_000, "1h30m"],
    [0, "0s"],
    [500, "500ms"],
    [90_061_001, "1d1h1m1s1ms"],
  ])("writes %d as %j", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("round-trips through parseDuration", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 86_400_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toEqual({ ok: true, ms });
      }),
    );
  });
});
