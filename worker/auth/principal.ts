/**
 * Who is calling the user API, and what they may do. Scopes nest: `admin` includes `run`, which
 * includes `read`. Tokens and people share ONE rule set (docs/security.md): every principal but
 * the admin token holds grants — a scope on one project or on every project (null) — and every
 * check below reads grants. A token's grants are its scopes over its projects (cut down to its
 * owner's current roles when a person made it); a person's grants are their roles.
 */
import { ApiError } from "../http/errors.ts";

export { SCOPES, type Scope } from "../../domain/views.ts";
import type { Scope } from "../../domain/views.ts";
import { atLeast, type Grant, grantsCover } from "../../domain/grants.ts";

export { type Grant, grantsCover, intersectGrants, tokenGrants } from "../../domain/grants.ts";

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
      /** The person who made the token; its grants never exceed theirs. */
      owner: string | null;
      grants: Grant[];
    }
  | { kind: "user"; via: "access"; email: string; grants: Grant[] };

const grantsOf = (principal: Principal): Grant[] | null => (principal.kind === "admin" ? null : principal.grants);

/** Has the caller `scope` on at least one project? */
export function hasScope(principal: Principal, scope: Scope): boolean {
  const grants = grantsOf(principal);
  return grants === null || grants.some((g) => atLeast(g.scope, scope));
}

/** May the caller see `project` (and, when given, act on it with `scope`)? */
export function canSeeProject(principal: Principal, project: string, scope: Scope = "read"): boolean {
  const grants = grantsOf(principal);
  return grants === null || grantsCover(grants, scope, project);
}

const who = (principal: Principal) => (principal.kind === "user" ? "you lack" : "this token lacks");

/** Throws 403 unless the caller has `scope` (on `project`, when given). */
export function requireScope(principal: Principal, scope: Scope, project?: string): void {
  if (!hasScope(principal, scope)) {
    throw new ApiError(403, "forbidden", `${who(principal)} the '${scope}' scope needed here`);
  }
  if (project !== undefined && !canSeeProject(principal, project, scope)) {
    const holder = principal.kind === "user" ? "you are" : "this token is";
    throw new ApiError(403, "forbidden", `${holder} not allowed '${scope}' on project '${project}'`);
  }
}

/**
 * Throws 403 unless the caller has `scope` over every project. For actions that belong to no
 * one project — creating projects, tokens and registration tokens, revoking agents — which a
 * caller limited to some projects could otherwise use to reach beyond them (docs/security.md).
 */
export function requireGlobalScope(principal: Principal, scope: Scope): void {
  requireScope(principal, scope);
  const grants = grantsOf(principal);
  if (grants !== null && !grantsCover(grants, scope, null)) {
    const limited = [...new Set(grants.map((g) => g.project).filter((p) => p !== null))].join(", ");
    throw new ApiError(403, "forbidden", `${principal.kind === "user" ? "your roles" : "this token"} reach only ${limited || "some projects"}; this needs '${scope}' on every project`);
  }
}

/** The projects a caller is limited to, for filtering lists; null = all. */
export function projectFilter(principal: Principal): string[] | null {
  const grants = grantsOf(principal);
  if (grants === null || grants.some((g) => g.project === null)) return null;
  return [...new Set(grants.map((g) => g.project as string))];
}

/** A stable id of the caller, for rate limits and the audit log. */
export function principalId(principal: Principal): { kind: "admin" | "token" | "user"; id: string; name: string } {
  if (principal.kind === "admin") return { kind: "admin", id: "admin", name: "admin" };
  if (principal.kind === "token") return { kind: "token", id: principal.tokenId, name: principal.name };
  return { kind: "user", id: principal.email, name: principal.email };
}
