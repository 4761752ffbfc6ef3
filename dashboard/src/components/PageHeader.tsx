import type { ComponentChildren } from "preact";

export function PageHeader({ title, sub, actions }: { title: ComponentChildren; sub?: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <div class="page-header">
      <div class="page-title">
        <h1>{title}</h1>
        {sub && <div class="page-sub">{sub}</div>}
      </div>
      {actions && <div class="page-actions">{actions}</div>}
    </div>
  );
}
