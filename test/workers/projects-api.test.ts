/** POST/GET projects: the webhook secret shown once and stored encrypted; refusals. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api } from "./api-client.ts";

describe("projects", () => {
  it("creates a project with a generated webhook secret, shown once and stored encrypted", async () => {
    const res = await api("POST", "/api/v1/projects", { body: { slug: "acme-web", name: "Acme web", repository: "https://github.com/acme/web.git" } });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ slug: "acme-web", name: "Acme web", repository: "https://github.com/acme/web.git" });
    expect(res.json.webhookSecret).toMatch(/^[A-Za-z0-9_-]{24,}$/);
    const row = await env.DB.prepare("SELECT webhook_secret FROM projects WHERE slug = 'acme-web'").first<{ webhook_secret: string }>();
    expect(row!.webhook_secret).toMatch(/^v1\./);
    expect(row!.webhook_secret).not.toContain(res.json.webhookSecret);

    const read = await api("GET", "/api/v1/projects/acme-web");
    expect(read.status).toBe(200);
    expect(read.json).toEqual({ id: res.json.id, slug: "acme-web", name: "Acme web", repository: "https://github.com/acme/web.git", createdAt: res.json.createdAt, statuses: null, statusesError: null, retention: null });
  });

  it("keeps a given webhook secret and defaults the name to the slug", async () => {
    const res = await api("POST", "/api/v1/projects", { body: { slug: "given", webhookSecret: "a-secret-of-16-chars!" } });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ name: "given", repository: null, webhookSecret: "a-secret-of-16-chars!" });
  });

  it("lists projects by slug", async () => {
    for (const slug of ["list-b", "list-a"]) await api("POST", "/api/v1/projects", { body: { slug } });
    const list = await api("GET", "/api/v1/projects");
    expect(list.status).toBe(200);
    const slugs = list.json.items.map((p: any) => p.slug);
    expect(slugs).toEqual([...slugs].sort());
    expect(slugs).toEqual(expect.arrayContaining(["list-a", "list-b"]));
    expect(list.json.cursor).toBeNull();
    for (const item of list.json.items) expect(item).not.toHaveProperty("webhookSecret");
  });

  it("refuses a duplicate slug with 409, also when both arrive at once", async () => {
    expect((await api("POST", "/api/v1/projects", { body: { slug: "twice" } })).status).toBe(201);
    const again = await api("POST", "/api/v1/projects", { body: { slug: "twice" } });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("project_exists");
    const racing = await Promise.all([1, 2, 3].map(() => api("POST", "/api/v1/projects", { body: { slug: "racing" } })));
    expect(racing.map((r) => r.status).sort()).toEqual([201, 409, 409]);
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM projects WHERE slug = 'racing'").first<{ n: number }>();
    expect(rows!.n).toBe(1);
  });

  it.each([
    [{ slug: "Upper" }, "slug"],
    [{ slug: "-dash" }, "slug"],
    [{ slug: "x".repeat(64) }, "slug"],
    [{}, "slug"],
    [{ slug: "ok-slug", repository: "ftp://nope" }, "repository"],
    [{ slug: "ok-slug", webhookSecret: "short" }, "webhookSecret"],
    [{ slug: "ok-slug", name: "" }, "name"],
  ])("refuses %j with 400 naming %s, and stores nothing", async (body, field) => {
    const res = await api("POST", "/api/v1/projects", { body });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("invalid_request");
    expect(res.json.error.details.issues.map((i: any) => i.path)).toContain(field);
    expect(res.json.error.message).toContain(field);
    expect((await api("GET", "/api/v1/projects/ok-slug")).status).toBe(404);
  });

  it("answers 404 for an unknown project and 400 for a malformed slug", async () => {
    const missing = await api("GET", "/api/v1/projects/nobody");
    expect(missing.status).toBe(404);
    expect(missing.json.error).toEqual({ code: "project_not_found", message: "no project 'nobody'" });
    expect((await api("GET", "/api/v1/projects/NOT_A_SLUG")).status).toBe(400);
  });
});
