/**
 * Who is calling the user API, and what they may do. Scopes nest: `admin` includes `run`, which
 * includes `read`. A token may be limited to some projects.
 */
import { ApiError } from "../http/errors.ts";

export { SCOPES, type Scope } from "../../domain/api.ts";
import type { Scope } from "../../domain/api.ts";

export type Principal =
  | { kind: "admin"; via: "bearer" | "session" }
  | {
      kind: "token";
      via: "bearer" | "session";
      tokenId: string;
      name: string;
      scopes: Scope[];
      /** Project slugs; null = every project. */
      projects: string[] | null;
    };

const RANK: Record<Scope, number> = { read: 0, run: 1, admin: 2 };

export function hasScope(principal: Principal, scope: Scope): boolean {
  if (principal.kind === "admin") return true;
  return principal.scopes.some((s) => RANK[s] >= RANK[scope]);
}

export function canSeeProject(principal: Principal, project: string): boolean {
  return principal.kind === "admin" || principal.projects === null || principal.projects.includes(project);
}

/** Throws 403 unless the caller has `scope` (on `project`, when given). */
export function requireScope(principal: Principal, scope: Scope, project?: string): void {
  if (!hasScope(principal, scope)) {
    throw new ApiError(403, "forbidden", `this token lacks the '${scope}' scope needed here`);
  }
  if (project !== undefined && !canSeeProject(principal, project)) {
    throw new ApiError(403, "forbidden", `this token is not allowed on project '${project}'`);
  }
}

/**
 * Throws 403 unless the caller has `scope` over every project. For actions that belong to no
 * one project — creating projects, tokens and registration tokens, revoking agents — which a
 * token limited to some projects could otherwise use to reach beyond them (docs/security.md).
 */
export function requireGlobalScope(principal: Principal, scope: Scope): void {
  requireScope(principal, scope);
  if (principal.kind === "token" && principal.projects !== null) {
    throw new ApiError(403, "forbidden", `this token is limited to projects ${principal.projects.join(", ")}; this needs a '${scope}' token for every project`);
  }
}

/** The projects a caller is limited to, for filtering lists; null = all. */
export function projectFilter(principal: Principal): string[] | null {
  return principal.kind === "admin" ? null : principal.projects;
}
