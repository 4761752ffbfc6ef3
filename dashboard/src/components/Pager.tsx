import { setQuery } from "../router.tsx";

/**
 * Cursor paging (the API's `cursor`): "Newer" goes back through the cursors seen, "Older"
 * follows the page's cursor. The cursor trail lives in the URL (`pages=` a list), so a page
 * can be reloaded and linked to.
 */
export function Pager({ trail, next }: { trail: string[]; next: string | null }) {
  if (trail.length === 0 && !next) return null;
  const go = (t: string[]) => setQuery({ pages: t.join(",") || null });
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="btn btn-sm" disabled={trail.length === 0} onClick={() => go(trail.slice(0, -1))}>
        ← Newer
      </button>
      <span class="muted">Page {trail.length + 1}</span>
      <button type="button" class="btn btn-sm" disabled={!next} onClick={() => next && go([...trail, next])}>
        Older →
      </button>
    </nav>
  );
}

/** The cursors of the pages before this one, from the URL; the last is this page's cursor. */
export function pageTrail(query: URLSearchParams): string[] {
  return (query.get("pages") ?? "").split(",").filter(Boolean);
}
