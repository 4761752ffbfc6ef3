/** A state in the dashboard's words (Queued, Running, Succeeded, Failed, Cancelled, Not run), coloured. */
import type { State } from "../api/types.ts";
import { statusLook } from "../lib/status.ts";

export function StatusIcon({ state, reason }: { state: State; reason?: string | null }) {
  const look = statusLook(state, reason);
  return <span class={`status-dot tone-${look.tone}`} aria-hidden="true" />;
}

export function StatusBadge({ state, reason }: { state: State; reason?: string | null }) {
  const look = statusLook(state, reason);
  return (
    <span class={`badge tone-${look.tone}`} data-state={state} title={state === "WARNING" ? "Succeeded with warnings" : state}>
      <span class="status-dot" aria-hidden="true" />
      {look.label}
      {state === "WARNING" && (
        <span class="warn-mark" aria-label="with warnings">
          !
        </span>
      )}
    </span>
  );
}
