/**
 * Loads a GET endpoint, keeps the last good value while reloading, and (with `pollMs`) reloads
 * on a timer while the tab is visible — the REST half of the live sources.
 */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { type ApiError, get } from "../api/client.ts";

export interface Resource<T> {
  data: T | undefined;
  error: ApiError | Error | undefined;
  loading: boolean;
  reload(): void;
  /** Replaces the value locally (optimistic updates). */
  set(update: (value: T | undefined) => T | undefined): void;
}

export function useResource<T>(path: string | null, options: { pollMs?: number } = {}): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [loading, setLoading] = useState(path !== null);
  const [tick, setTick] = useState(0);
  const pathRef = useRef(path);

  useEffect(() => {
    if (pathRef.current !== path) {
      pathRef.current = path;
      setData(undefined);
    }
    if (path === null) return;
    const controller = new AbortController();
    setLoading(true);
    get<T>(path, controller.signal).then(
      (value) => {
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (controller.signal.aborted) return;
        setError(e instanceof Error ? e : new Error(String(e)));
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [path, tick]);

  useEffect(() => {
    if (!options.pollMs || path === null) return;
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") setTick((n) => n + 1);
    }, options.pollMs);
    const onVisible = () => document.visibilityState === "visible" && setTick((n) => n + 1);
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [path, options.pollMs]);

  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data, error, loading, reload, set: setData };
}

