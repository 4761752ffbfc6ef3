/** The run page's live source: the RunView as it changes, and the feed to follow logs with. */
import { useLayoutEffect, useState } from "preact/hooks";
import type { RunView } from "../api/types.ts";
import { openRunFeed, type RunFeed } from "../live/index.ts";

export function useRunFeed(runId: string): { feed: RunFeed | null; run: RunView | undefined; error: Error | undefined } {
  const [feed, setFeed] = useState<RunFeed | null>(null);
  const [run, setRun] = useState<RunView | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  // A layout effect: opened in the same task as the first render, not a frame later.
  useLayoutEffect(() => {
    const f = openRunFeed(runId);
    setFeed(f);
    const offRun = f.onRun((r) => {
      if (performance.getEntriesByName("ym:run-view").length === 0) performance.mark("ym:run-view");
      setRun(r);
      setError(undefined);
    });
    const offError = f.onError(setError);
    return () => {
      offRun();
      offError();
      f.close();
    };
  }, [runId]);
  return { feed, run, error };
}
