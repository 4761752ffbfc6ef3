/**
 * Who acts, as the audit log records it (docs/security.md "The audit log"). Shared by the worker,
 * which records D1 changes in the batch that makes them, and the run's object, which records the
 * actions on a run in the transaction of the command and flushes them to D1 from its outbox
 * (durable-objects/run-object/audit-outbox.ts). Every command that starts or changes a run takes
 * one of these, so the object always knows who it is acting for.
 */
import type { auditEvents } from "./db/schema.ts";

export type ActorKind = (typeof auditEvents.$inferSelect)["actorKind"];
export interface Actor {
  kind: ActorKind;
  id: string;
  name: string;
}

/** The actor of a request and the client's address (`CF-Connecting-IP`; null when no person's request). */
export interface AuditContext {
  actor: Actor;
  ip: string | null;
}

export interface AuditFacts {
  action: string;
  project?: string | null;
  target?: string | null;
}

/** How a run was started, as far as the actor goes (the run's `trigger`). */
export type StartedBy = "manual" | "api" | "webhook" | "schedule" | "lineage";

const MACHINE_NAMES: Partial<Record<StartedBy, string>> = { webhook: "webhook", schedule: "schedule", lineage: "dataset trigger" };

/**
 * A run started by no caller of the user API: the webhook, the schedule or the dataset trigger of
 * its pipeline, named by the pipeline (`webhook of web/build`).
 */
export function machineActor(trigger: StartedBy, project: string, pipeline: string): AuditContext {
  const kind: ActorKind = trigger === "schedule" ? "schedule" : trigger === "webhook" ? "webhook" : "system";
  const name = MACHINE_NAMES[trigger] ?? "system";
  return { actor: { kind, id: `${project}/${pipeline}`, name: `${name} of ${project}/${pipeline}` }, ip: null };
}
