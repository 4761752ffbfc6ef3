/**
 * People (docs/security.md "People"): a person is a row in `users`, created the first time
 * their Access assertion is seen, with no roles; their roles are rows in `user_roles`, one per
 * project or one over every project (EVERY_PROJECT).
 */
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { EVERY_PROJECT, userRoles, users } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import type { Grant, Scope } from "../auth/principal.ts";

export interface Role {
  project: string | null;
  role: Scope;
}

export const roleOf = (row: { project: string; role: Scope }): Role => ({ project: row.project === EVERY_PROJECT ? null : row.project, role: row.role });
export const grantOf = (role: Role): Grant => ({ project: role.project, scope: role.role });
export const storedProject = (project: string | null) => project ?? EVERY_PROJECT;

/** A person's roles, in one read. */
export async function rolesOf(env: Env, email: string): Promise<Role[]> {
  const rows = await drizzle(env.DB).select({ project: userRoles.project, role: userRoles.role }).from(userRoles).where(eq(userRoles.email, email));
  return rows.map(roleOf);
}

/**
 * The roles of a person who just signed in, creating them (with none) on first sign-in. One
 * round trip when they are known: the insert is tried only when the read finds no one.
 */
export async function signedInPerson(env: Env, email: string): Promise<Role[]> {
  const db = drizzle(env.DB);
  const [known, roles] = await db.batch([
    db.select({ email: users.email }).from(users).where(eq(users.email, email)).limit(1),
    db.select({ project: userRoles.project, role: userRoles.role }).from(userRoles).where(eq(userRoles.email, email)),
  ]);
  if (known.length === 0) await db.insert(users).values({ email, createdAt: Date.now() }).onConflictDoNothing();
  return roles.map(roleOf);
}
