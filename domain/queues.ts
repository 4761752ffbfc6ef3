/** Queues: the unit of dispatch (one DispatcherObject each). `default` always exists. */
export const DEFAULT_QUEUE = "default";
