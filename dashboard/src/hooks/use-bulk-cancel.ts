/**
 * The state of a page's bulk cancel (the runs and queue pages): the ticked ids, whether the
 * confirmation is open, whether the cancel is under way, and what it failed with.
 */
import { useState } from "preact/hooks";

export function useBulkCancel({ cancel, after }: { cancel(): Promise<void>; after(): void }) {
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const toggle = (id: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  const confirm = async () => {
    setConfirming(false);
    setBusy(true);
    setError(null);
    try {
      await cancel();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
      after();
    }
  };
  return { selected, setSelected, toggle, confirming, ask: () => setConfirming(true), close: () => setConfirming(false), busy, error, setError, confirm };
}
