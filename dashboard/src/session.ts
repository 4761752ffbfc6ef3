/** Who is signed in (GET /api/v1/session), for the pages that show or hide actions by scope. */
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Session } from "./api/types.ts";

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in page");
  return session;
}

const RANK = { read: 0, run: 1, admin: 2 } as const;

/** Whether the signed-in token may do `scope` (on `project`, when given). The API decides; this only hides buttons. */
export function can(session: Session, scope: keyof typeof RANK, project?: string): boolean {
  if (session.kind === "admin") return true;
  if (!session.scopes.some((s) => RANK[s] >= RANK[scope])) return false;
  return project === undefined || session.projects === null || session.projects.includes(project);
}
