/**
 * Client-side routing on the History API. The worker's static assets answer every unknown path
 * with index.html (SPA fallback), so any dashboard URL can be opened, bookmarked and shared.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";

const listeners = new Set<() => void>();
const notify = () => {
  for (const l of listeners) l();
};
window.addEventListener("popstate", notify);
window.addEventListener("hashchange", notify);

export interface Location {
  path: string;
  query: URLSearchParams;
  hash: string;
}

const current = (): Location => ({
  path: location.pathname,
  query: new URLSearchParams(location.search),
  hash: location.hash,
});

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search + location.hash) return;
  history[options.replace ? "replaceState" : "pushState"](null, "", to);
  if (!options.replace) window.scrollTo(0, 0);
  notify();
}

/** Changes some query parameters of the current URL (null removes one), replacing the entry. */
export function setQuery(changes: Record<string, string | null | undefined>, options: { replace?: boolean } = { replace: true }): void {
  const query = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === "") query.delete(k);
    else query.set(k, v);
  }
  const qs = query.toString();
  navigate(location.pathname + (qs ? `?${qs}` : "") + (options.replace ? location.hash : ""), options);
}

export function useLocation(): Location {
  const [, force] = useState(0);
  useEffect(() => {
    const l = () => force((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return current();
}

/** Matches `/runs/:run` style patterns; returns the decoded params or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const names: string[] = [];
  const source = pattern.replace(/:([a-zA-Z]+)/g, (_, name: string) => {
    names.push(name);
    return "([^/]+)";
  });
  const m = new RegExp(`^${source}/?$`).exec(path);
  if (!m) return null;
  return Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
}

interface LinkProps {
  href: string;
  children?: ComponentChildren;
  class?: string;
  title?: string;
  "aria-label"?: string;
  "aria-current"?: "page" | undefined;
  onClick?(event: MouseEvent): void;
}

/** An ordinary link (open in new tab works) that navigates in place on a plain click. */
export function Link({ href, onClick, ...rest }: LinkProps) {
  return (
    <a
      href={href}
      onClick={(event) => {
        onClick?.(event);
        if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        navigate(href);
      }}
      {...rest}
    />
  );
}
