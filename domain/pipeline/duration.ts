/**
 * Durations as people write them in `.act` files and in `$YM_METRICS`: `10m`, `1h30m`, `45s`,
 * `500ms`, `1.5s`, `2d`.
 *
 * Decisions (documented in docs/pipelines.md):
 * - A unit is REQUIRED. A bare number (`10`, `"10"`) is refused, because it is ambiguous:
 *   GitHub's `timeout-minutes` reads minutes, other tools read seconds. The error message
 *   suggests the explicit spelling instead.
 * - Units: `d`, `h`, `m`, `s`, `ms`, each at most once and from largest to smallest, so a
 *   slip such as `5m5m` or `30m1h` is reported rather than silently summed.
 * - Each part may be a decimal (`1.5h`); the result may therefore have a fractional
 *   millisecond part. Callers that need whole milliseconds round it themselves.
 * - No sign and no spaces: durations here are always lengths of time, never offsets.
 */

export type DurationResult = { ok: true; ms: number } | { ok: false; error: string };

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
/** Largest first; the order a duration's parts must follow. */
const UNIT_ORDER: readonly Unit[] = ["d", "h", "m", "s", "ms"];

// `ms` must come before `m` and `s` in the alternation so that "500ms" is not read as 500m + "s".
const PART = /(\d+(?:\.\d+)?|\.\d+)(ms|d|h|m|s)/y;

export function parseDuration(text: string): DurationResult {
  const input = text.trim();
  if (input === "") return { ok: false, error: "a duration may not be empty; write e.g. 10m or 1h30m" };
  if (/^\d+(\.\d+)?$/.test(input)) {
    return {
      ok: false,
      error: `duration "${input}" has no unit; write ${input}s for seconds or ${input}m for minutes`,
    };
  }
  let total = 0;
  let position = 0;
  let lastUnitIndex = -1;
  while (position < input.length) {
    PART.lastIndex = position;
    const match = PART.exec(input);
    if (!match) {
      return {
        ok: false,
        error: `"${input}" is not a duration; write a number and a unit (d, h, m, s, ms), e.g. 10m, 1h30m, 500ms`,
      };
    }
    const unit = match[2] as Unit;
    const unitIndex = UNIT_ORDER.indexOf(unit);
    if (unitIndex <= lastUnitIndex) {
      return {
        ok: false,
        error: `"${input}": units must go from largest to smallest and appear once each (e.g. 1h30m)`,
      };
    }
    lastUnitIndex = unitIndex;
    total += Number(match[1]) * UNIT_MS[unit];
    position = PART.lastIndex;
  }
  if (!Number.isSafeInteger(Math.ceil(total))) return { ok: false, error: `duration "${input}" is too long` };
  return { ok: true, ms: total };
}

/**
 * The shortest spelling that `parseDuration` reads back to the same whole number of
 * milliseconds, for messages and the dashboard: 5_400_000 → "1h30m", 0 → "0s".
 */
export function formatDuration(ms: number): string {
  let rest = Math.max(0, Math.round(ms));
  if (rest === 0) return "0s";
  let out = "";
  for (const unit of UNIT_ORDER) {
    const size = UNIT_MS[unit];
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return out;
}
