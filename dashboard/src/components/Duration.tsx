/** A duration that ticks every second while its end is unknown. */
import { useNow } from "../hooks/use-now.ts";
import { elapsed, formatDuration } from "../lib/format.ts";

export function Duration({ start, end, running }: { start: string | null; end: string | null; running?: boolean }) {
  const ticking = running ?? (start !== null && end === null);
  const now = useNow(ticking);
  return (
    <span class="duration" data-ticking={ticking ? "" : undefined}>
      {formatDuration(elapsed(start, end, now))}
    </span>
  );
}
