/** The current time, re-read every `everyMs` while `active` (durations that tick while running). */
import { useEffect, useState } from "preact/hooks";

export function useNow(active = true, everyMs = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [active, everyMs]);
  return now;
}
