/** Answers boot.js asked for before the app loaded (each used once, by the first reader). */
import { apiResponse } from "./client.ts";

type Prefetched = Record<string, Promise<Response> | undefined>;

function take(path: string): Promise<Response> | undefined {
  const store = (window as unknown as { __ymPrefetch?: Prefetched }).__ymPrefetch;
  const found = store?.[path];
  if (store) delete store[path];
  return found;
}

/** GET `path` as JSON, from boot.js's request when it made one; errors as `api` gives them. */
export async function getFirst<T>(path: string, signal?: AbortSignal): Promise<T> {
  const early = take(path);
  if (early) {
    try {
      const response = await early;
      if (response.ok) return (await response.json()) as T;
    } catch {
      // failed early: ask again below, which reports the error properly
    }
  }
  return (await (await apiResponse("GET", path, undefined, { signal })).json()) as T;
}
