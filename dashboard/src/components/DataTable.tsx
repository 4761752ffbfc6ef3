/**
 * A list page's table: the wrapper that lets it scroll sideways, one header row, the rows the
 * page renders. `stack` in `class` turns rows into cards on a phone, each cell labelled by its
 * `data-label` (dashboard/src/styles).
 */
import type { ComponentChildren } from "preact";
import { TimeAgo } from "./TimeAgo.tsx";

/** A column's header: its text, a class (`col-opt` hides it on a phone), or text for screen readers only. */
export type Column = string | { label: string; class?: string; screenReaderOnly?: boolean };

export function DataTable({ class: className, columns, attrs, children }: { class: string; columns: Column[]; attrs?: Record<string, string | boolean>; children: ComponentChildren }) {
  return (
    <div class="table-wrap">
      <table class={className} {...attrs}>
        <thead>
          <tr>
            {columns.map((c) =>
              typeof c === "string" ? (
                <th key={c}>{c}</th>
              ) : (
                <th key={c.label} class={c.class}>
                  {c.screenReaderOnly ? <span class="sr-only">{c.label}</span> : c.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** A cell with a moment as "3 min ago" (the exact time on hover), on one line. */
export function TimeCell({ label, at, class: className = "nowrap" }: { label: string; at: string | number | null | undefined; class?: string }) {
  return (
    <td class={className} data-label={label}>
      <TimeAgo at={at} />
    </td>
  );
}
