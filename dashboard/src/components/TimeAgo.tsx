/** "5 min ago", with the exact time on hover. */
import { useNow } from "../hooks/use-now.ts";
import { formatAgo, formatTime } from "../lib/format.ts";

export function TimeAgo({ at }: { at: string | number | null | undefined }) {
  const now = useNow(true, 15_000);
  if (at === null || at === undefined) return <span>—</span>;
  const iso = typeof at === "number" ? new Date(at).toISOString() : at;
  return (
    <time dateTime={iso} title={formatTime(iso)}>
      {formatAgo(iso, now)}
    </time>
  );
}
