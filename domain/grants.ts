/**
 * Rights as grants: a scope (read < run < admin) on one project or on every project (null).
 * Tokens and people share these rules (docs/security.md); the worker enforces them
 * (worker/auth/principal.ts) and the dashboard only uses them to hide what would be refused.
 */
import type { Scope } from "./views.ts";

export interface Grant {
  /** A project slug; null = every project. */
  project: string | null;
  scope: Scope;
}

const RANK: Record<Scope, number> = { read: 0, run: 1, admin: 2 };

export const atLeast = (have: Scope, need: Scope) => RANK[have] >= RANK[need];
const weaker = (a: Scope, b: Scope): Scope => (RANK[a] <= RANK[b] ? a : b);

/** A token's grants: its strongest scope on each of its projects (or on all). */
export function tokenGrants(scopes: readonly Scope[], projects: readonly string[] | null): Grant[] {
  if (scopes.length === 0) return [];
  const top = scopes.reduce((a, b) => (RANK[a] >= RANK[b] ? a : b));
  return (projects ?? [null]).map((project) => ({ project, scope: top }));
}

/**
 * What both `mine` and `theirs` allow: a person's token is cut down to the person's roles at
 * every use, so removing a role takes it from their tokens at once.
 */
export function intersectGrants(mine: readonly Grant[], theirs: readonly Grant[]): Grant[] {
  const out: Grant[] = [];
  for (const a of mine) {
    for (const b of theirs) {
      if (a.project !== null && b.project !== null && a.project !== b.project) continue;
      out.push({ project: a.project ?? b.project, scope: weaker(a.scope, b.scope) });
    }
  }
  return out;
}

/** Does `grants` give `scope` on `project` (on every project when null)? */
export function grantsCover(grants: readonly Grant[], scope: Scope, project: string | null): boolean {
  return grants.some((g) => atLeast(g.scope, scope) && (g.project === null || g.project === project));
}
