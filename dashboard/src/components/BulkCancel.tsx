/** The runs and queue pages' bulk cancel: the header's button and the confirmation listing what goes. */
import type { ComponentChildren } from "preact";
import { Dialog } from "./Dialog.tsx";

export function CancelSelectedButton({ count, busy, onClick }: { count: number; busy: boolean; onClick(): void }) {
  return (
    <button type="button" class="btn btn-danger" disabled={count === 0 || busy} onClick={onClick}>
      Cancel selected{count > 0 ? ` (${count})` : ""}
    </button>
  );
}

export function ConfirmCancel({
  open,
  noun,
  count,
  note,
  onClose,
  onConfirm,
  children,
}: {
  open: boolean;
  /** What is cancelled, singular: "run", "job". */
  noun: string;
  count: number;
  note?: string;
  onClose(): void;
  onConfirm(): void;
  /** The list's items. */
  children: ComponentChildren;
}) {
  const plural = `${noun}${count === 1 ? "" : "s"}`;
  return (
    <Dialog open={open} title={`Cancel ${count} ${plural}?`} onClose={onClose}>
      <ul class="confirm-list">{children}</ul>
      {note && <p class="muted small">{note}</p>}
      <div class="form-actions">
        <button type="button" class="btn" onClick={onClose}>
          Keep them
        </button>
        <button type="button" class="btn btn-danger" onClick={onConfirm} autofocus>
          Cancel {noun}s
        </button>
      </div>
    </Dialog>
  );
}
