/**
 * How the worker and the objects address each other: a run's object by the run id, a queue's
 * dispatcher by the queue name. Written once so that no caller builds an id another way.
 */
import { DEFAULT_QUEUE } from "../domain/queues.ts";
import type { Env } from "./env.ts";

export function runStub(env: Env, runId: string) {
  return env.RUNS.get(env.RUNS.idFromName(runId));
}

export function dispatcherStub(env: Env, queue: string = DEFAULT_QUEUE) {
  return env.DISPATCHER.get(env.DISPATCHER.idFromName(queue));
}

/** A project's concurrency groups (durable-objects/concurrency-groups), by the project's id. */
export function concurrencyGroupsStub(env: Env, projectId: string) {
  return env.CONCURRENCY_GROUPS.get(env.CONCURRENCY_GROUPS.idFromName(projectId));
}
