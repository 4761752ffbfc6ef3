/**
 * Project secrets (docs/security.md): written and deleted by admins, listed by name only, and
 * never read back by anyone — their values leave the control plane only inside the claim
 * answer of a job that references them. Stored encrypted (AES-GCM, YM_ENCRYPTION_KEY).
 */
import { auditContext, auditRow, auditRowIfChanged, d1Statement } from "../services/audit.ts";
import { createRoute, z } from "@hono/zod-openapi";
import { and, count, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { MAX_SECRET_BYTES, MAX_SECRET_NAME_LENGTH, MAX_SECRETS_PER_PROJECT, SECRET_NAME } from "../../domain/secrets.ts";
import { requireScope } from "../auth/principal.ts";
import { projectSecrets } from "../../platform/db/schema.ts";
import { ApiError } from "../http/errors.ts";
import { encryptSecret } from "../../platform/crypto.ts";
import { findProject } from "../services/projects.ts";
import { errors, json, router, security, SLUG } from "./common.ts";
import { isoTime } from "../../domain/time.ts";

const SecretView = z.object({ name: z.string(), createdAt: z.string(), updatedAt: z.string() }).meta({ id: "Secret" });

const SecretName = z
  .string()
  .max(MAX_SECRET_NAME_LENGTH, `a secret name has at most ${MAX_SECRET_NAME_LENGTH} characters`)
  .regex(SECRET_NAME, "a secret name starts with a letter or '_' and has only letters, digits, '_' and '-' (it is what ${{ secrets.NAME }} names)");

const SecretParams = z.object({ project: SLUG, name: SecretName });

const view = (row: { name: string; createdAt: number; updatedAt: number }) => ({ name: row.name, createdAt: isoTime(row.createdAt), updatedAt: isoTime(row.updatedAt) });

export const secretRoutes = router();

secretRoutes.openapi(
  createRoute({
    method: "put",
    path: "/api/v1/projects/{project}/secrets/{name}",
    operationId: "putSecret",
    summary: "Create or replace a project secret (write-only)",
    description: `Body: \`{value}\`, at most ${MAX_SECRET_BYTES} bytes of UTF-8. The value is encrypted at rest and is never returned by any API; runs triggered afterwards use it, as \`\${{ secrets.NAME }}\`, and agents mask it (and its base64) in logs.`,
    security,
    request: {
      params: SecretParams,
      body: { required: true, content: { "application/json": { schema: z.strictObject({ value: z.string().min(1, "a secret's value may not be empty") }) } } },
    },
    responses: {
      201: json(SecretView, "Created."),
      200: json(SecretView, "Replaced."),
      ...errors,
    },
  }),
  async (c) => {
    const { project: slug, name } = c.req.valid("param");
    requireScope(c.var.principal, "admin", slug);
    const project = await findProject(c.env, slug);
    const { value } = c.req.valid("json");
    const bytes = new TextEncoder().encode(value).byteLength;
    if (bytes > MAX_SECRET_BYTES) {
      throw new ApiError(413, "secret_too_large", `a secret's value may be at most ${MAX_SECRET_BYTES} bytes of UTF-8; this one has ${bytes}`);
    }
    const db = drizzle(c.env.DB);
    const key = and(eq(projectSecrets.projectId, project.id), eq(projectSecrets.name, name));
    const existing = (await db.select({ createdAt: projectSecrets.createdAt }).from(projectSecrets).where(key).limit(1))[0];
    if (!existing) {
      const held = (await db.select({ n: count() }).from(projectSecrets).where(eq(projectSecrets.projectId, project.id)))[0]?.n ?? 0;
      if (held >= MAX_SECRETS_PER_PROJECT) {
        throw new ApiError(409, "too_many_secrets", `a project may hold at most ${MAX_SECRETS_PER_PROJECT} secrets; delete one first`);
      }
    }
    const now = Date.now();
    const encrypted = await encryptSecret(c.env, value);
    // One statement either way: a concurrent first write of the same name becomes a replace.
    await db.batch([
      db
        .insert(projectSecrets)
        .values({ projectId: project.id, name, value: encrypted, createdAt: now, updatedAt: now })
        .onConflictDoUpdate({ target: [projectSecrets.projectId, projectSecrets.name], set: { value: encrypted, updatedAt: now } }),
      auditRow(c.env, auditContext(c), { action: "secret.put", project: slug, target: name }, now),
    ]);
    const row = { name, createdAt: existing?.createdAt ?? now, updatedAt: now };
    return c.json(view(row), existing ? 200 : 201);
  },
);

secretRoutes.openapi(
  createRoute({
    method: "get",
    path: "/api/v1/projects/{project}/secrets",
    operationId: "listSecrets",
    summary: "List a project's secrets: names and times, never values",
    security,
    request: { params: z.object({ project: SLUG }) },
    responses: { 200: json(z.object({ items: z.array(SecretView), cursor: z.null() }), "The secrets, by name."), ...errors },
  }),
  async (c) => {
    const { project: slug } = c.req.valid("param");
    requireScope(c.var.principal, "read", slug);
    const project = await findProject(c.env, slug);
    const rows = await drizzle(c.env.DB)
      .select({ name: projectSecrets.name, createdAt: projectSecrets.createdAt, updatedAt: projectSecrets.updatedAt })
      .from(projectSecrets)
      .where(eq(projectSecrets.projectId, project.id))
      .orderBy(projectSecrets.name);
    return c.json({ items: rows.map(view), cursor: null }, 200);
  },
);

secretRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/api/v1/projects/{project}/secrets/{name}",
    operationId: "deleteSecret",
    summary: "Delete a project secret",
    description: "Runs triggered before keep the value they took when they were triggered; later runs get an empty string.",
    security,
    request: { params: SecretParams },
    responses: { 204: { description: "Deleted." }, ...errors },
  }),
  async (c) => {
    const { project: slug, name } = c.req.valid("param");
    requireScope(c.var.principal, "admin", slug);
    const project = await findProject(c.env, slug);
    const [deleted] = await c.env.DB.batch([
      d1Statement(c.env, drizzle(c.env.DB).delete(projectSecrets).where(and(eq(projectSecrets.projectId, project.id), eq(projectSecrets.name, name)))),
      auditRowIfChanged(c.env, auditContext(c), { action: "secret.delete", project: slug, target: name }),
    ]);
    if ((deleted?.meta.changes ?? 0) === 0) throw new ApiError(404, "secret_not_found", `project '${slug}' has no secret '${name}'`);
    return c.body(null, 204);
  },
);
