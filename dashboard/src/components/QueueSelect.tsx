/**
 * A select of every queue of the registry (GET /api/v1/queues), with an "all queues" choice: the
 * queue filter of the queue and agents pages. `ALL_QUEUES` is not a queue name (names have no '*').
 */
import type { Page, QueueInfo } from "../api/types.ts";
import { useResource } from "../hooks/use-resource.ts";

export const ALL_QUEUES = "*";

export function QueueSelect({ value, onChange }: { value: string; onChange(queue: string): void }) {
  const queues = useResource<Page<QueueInfo>>("/api/v1/queues", { pollMs: 30_000 });
  const names = queues.data?.items.map((q) => q.name) ?? [];
  // The value shows even before the list arrives (or if it names a queue since deleted).
  if (value !== ALL_QUEUES && !names.includes(value)) names.unshift(value);
  return (
    <label class="field field-inline">
      <span>Queue</span>
      <select name="queue" value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value={ALL_QUEUES}>All queues</option>
        {names.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}
