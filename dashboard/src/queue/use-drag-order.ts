/**
 * Drag to reorder with pointer events (mouse, pen and touch alike): press the row's handle,
 * move, release. While dragging, `drag` says which row moves and where it would land; on
 * release `onDrop(id, targetIndex)` gets the index it should take in the list without it.
 */
import { useRef, useState } from "preact/hooks";

export interface DragState {
  id: string;
  /** Index in the list without the dragged row where it would land. */
  target: number;
  /** Pointer offset from where the drag started (px), to move the row with the pointer. */
  dy: number;
}

export function useDragOrder(ids: string[], onDrop: (id: string, target: number) => void, onActive: (on: boolean) => void) {
  const [drag, setDrag] = useState<DragState | null>(null);
  const state = useRef<{ id: string; startY: number; mids: number[]; from: number; target: number } | null>(null);

  const start = (id: string, event: PointerEvent, container: HTMLElement) => {
    if (event.button !== 0) return;
    event.preventDefault();
    const rows = [...container.querySelectorAll<HTMLElement>("[data-queue-row]")];
    const mids = rows.map((r) => {
      const box = r.getBoundingClientRect();
      return box.top + box.height / 2;
    });
    const from = ids.indexOf(id);
    state.current = { id, startY: event.clientY, mids, from, target: from };
    (event.currentTarget as HTMLElement).setPointerCapture(event.pointerId);
    onActive(true);
    setDrag({ id, target: from, dy: 0 });
  };

  const move = (event: PointerEvent) => {
    const s = state.current;
    if (!s) return;
    const y = event.clientY;
    // Rows (other than the dragged one) whose middle is above the pointer come before it.
    let target = 0;
    s.mids.forEach((mid, i) => {
      if (i !== s.from && mid < y) target++;
    });
    s.target = target;
    setDrag({ id: s.id, target, dy: y - s.startY });
  };

  const end = (commit: boolean) => {
    const s = state.current;
    state.current = null;
    onActive(false);
    setDrag(null);
    if (commit && s && s.target !== s.from) onDrop(s.id, s.target);
  };

  return {
    drag,
    handleProps: (id: string, container: () => HTMLElement | null) => ({
      onPointerDown: (e: PointerEvent) => container() && start(id, e, container()!),
      onPointerMove: move,
      onPointerUp: () => end(true),
      onPointerCancel: () => end(false),
    }),
  };
}
