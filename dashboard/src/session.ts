/** Who is signed in (GET /api/v1/session), for the pages that show or hide actions by scope. */
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Scope } from "../../domain/views.ts";
import { atLeast, grantsCover } from "../../domain/grants.ts";
import type { Session } from "./api/types.ts";

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in page");
  return session;
}

/**
 * Whether the signed-in token or person may do `scope` (on `project`, when given; anywhere when
 * not). The same grant rules as the API's (domain/grants.ts); the API decides, this only hides buttons.
 */
export function can(session: Session, scope: Scope, project?: string): boolean {
  if (session.kind === "admin") return true;
  const grants = (session.roles ?? []).map((r) => ({ project: r.project, scope: r.role }));
  if (project === undefined) return grants.some((g) => atLeast(g.scope, scope));
  return grantsCover(grants, scope, project);
}

/** Whether the caller may do `scope` on every project (the people and audit pages need admin there). */
export function canEverywhere(session: Session, scope: Scope): boolean {
  return session.kind === "admin" || grantsCover((session.roles ?? []).map((r) => ({ project: r.project, scope: r.role })), scope, null);
}
