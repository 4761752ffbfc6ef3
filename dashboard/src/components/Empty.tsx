import type { ComponentChildren } from "preact";

/** What a list says when it has nothing to show. */
export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}
