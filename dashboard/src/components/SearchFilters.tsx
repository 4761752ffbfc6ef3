/**
 * A list page's filter bar with a search box bound to `?q=`: applied as one types, a moment
 * after the last key, or at once on Enter; a new search starts again at the first page. The
 * page's other filters go inside it (`children`).
 */
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { setQuery, useLocation } from "../router.tsx";

export function SearchFilters({ placeholder, children }: { placeholder: string; children?: ComponentChildren }) {
  const q = useLocation().query.get("q") ?? "";
  const [text, setText] = useState(q);
  useEffect(() => setText(q), [q]);
  useEffect(() => {
    if (text === q) return;
    const t = setTimeout(() => setQuery({ q: text.trim(), pages: null }), 250);
    return () => clearTimeout(t);
  }, [text]);
  return (
    <form
      class="filters"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        setQuery({ q: text.trim(), pages: null });
      }}
    >
      <label class="field field-inline field-grow">
        <span>Search</span>
        <input type="search" value={text} placeholder={placeholder} spellcheck={false} onInput={(e) => setText(e.currentTarget.value)} />
      </label>
      {children}
    </form>
  );
}
