/** A modal dialog on the native <dialog> element (focus trap, Esc to close, ::backdrop). */
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";

export function Dialog({ open, title, onClose, children }: { open: boolean; title: string; onClose(): void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} class="dialog" onClose={onClose} aria-labelledby="dialog-title">
      <div class="dialog-head">
        <h2 id="dialog-title">{title}</h2>
        <button type="button" class="btn btn-ghost btn-sm" aria-label="Close" onClick={onClose}>
          ✕
        </button>
      </div>
      {open && children}
    </dialog>
  );
}
