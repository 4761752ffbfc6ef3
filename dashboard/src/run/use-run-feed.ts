/** The run page's live source: the RunView as it changes, and the feed to follow logs with. */
import { useEffect, useState } from "preact/hooks";
import type { RunView } from "../api/types";
import { openRunFeed, type RunFeed } from "../live";

export function useRunFeed(runId: string): { feed: RunFeed | null; run: RunView | undefined; error: Error | undefined } {
  const [feed, setFeed] = useState<RunFeed | null>(null);
  const [run, setRun] = useState<RunView | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  useEffect(() => {
    const f = openRunFeed(runId);
    setFeed(f);
    const offRun = f.onRun((r) => {
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
