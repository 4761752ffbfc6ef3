/**
 * Queues: the unit of dispatch and of trust (docs/architecture.md "Queues"). Each queue is one
 * DispatcherObject, named by the queue; its registry row in D1 lists the projects allowed to send
 * jobs to it (null = every project). `default` always exists and allows every project.
 */
export const DEFAULT_QUEUE = "default";

/**
 * A queue name goes inside agent tokens (`yma.<queue>.…`, split on '.') and names a Durable
 * Object: lowercase letters, digits and '-', 1–63 characters, starting with a letter or digit.
 */
export const QUEUE_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const QUEUE_NAME_RULE = "a queue name is 1–63 lowercase letters, digits or '-', starting with a letter or digit";

export const isQueueName = (name: string) => QUEUE_NAME_PATTERN.test(name);

export interface QueueRule {
  name: string;
  /** Project slugs allowed to send jobs to the queue; null = every project. */
  projects: string[] | null;
}

/** Whether a project may send jobs to a queue. */
export function queueAllows(queue: QueueRule, project: string): boolean {
  return queue.projects === null || queue.projects.includes(project);
}

/**
 * Why `project` may not use `queue` (a sentence for a 400/403), or null when it may. `queues` are
 * the known queues by name; an unknown one is refused like a forbidden one, with its own words.
 */
export function queueRefusal(queues: ReadonlyMap<string, QueueRule>, queue: string, project: string): string | null {
  const rule = queues.get(queue);
  if (!rule) return `queue '${queue}' does not exist (create it with POST /api/v1/queues, or use another)`;
  if (!queueAllows(rule, project)) return `queue '${queue}' does not allow project '${project}' (an admin can add it to the queue's projects)`;
  return null;
}

/** The distinct queues a pipeline's jobs name, in file order. */
export function queuesOf(jobs: readonly { queue: string }[]): string[] {
  return [...new Set(jobs.map((job) => job.queue))];
}
