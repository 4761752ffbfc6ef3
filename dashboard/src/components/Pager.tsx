/**
 * Cursor paging (the API's `cursor`): "Newer" goes back through the cursors seen, "Older"
 * follows the page's cursor. The cursor trail lives in the URL (`before=` a list), so a page
 * can be reloaded and linked to.
 */
export function Pager({ trail, next, onChange }: { trail: string[]; next: string | null; onChange(trail: string[]): void }) {
  if (trail.length === 0 && !next) return null;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="btn btn-sm" disabled={trail.length === 0} onClick={() => onChange(trail.slice(0, -1))}>
        ← Newer
      </button>
      <span class="muted">Page {trail.length + 1}</span>
      <button type="button" class="btn btn-sm" disabled={!next} onClick={() => next && onChange([...trail, next])}>
        Older →
      </button>
    </nav>
  );
}
