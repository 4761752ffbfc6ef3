/** Says how the page stays current: a live stream, or reading again every second. */
export function LiveBadge({ mode }: { mode: "websocket" | "poll" | undefined }) {
  if (!mode) return null;
  return (
    <span class={`live-badge live-${mode}`} data-live={mode} title={mode === "websocket" ? "Updates arrive as they happen" : "Live stream unavailable: refreshed every second"}>
      <span class="live-dot" aria-hidden="true" />
      {mode === "websocket" ? "Live" : "Auto-refresh"}
    </span>
  );
}
