// Issue 23's end-to-end proof: the real `wrangler dev` with the Access vars set, a JWKS served by
// this test and assertions signed like Cloudflare Access signs them (test/support/access.ts). A
// person with read cannot trigger; with run they can; the audit log shows the grant, the trigger
// and the cancel with their actor; a person who is not an admin cannot read it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AccessTeam, startAccessTeam } from "../support/access.ts";
import { readReply } from "../support/reply.ts";
import { type ControlPlane, startControlPlane, stopAll } from "./harness.ts";

let cp: ControlPlane;
let access: AccessTeam;

/** A request as a browser behind Access makes it: no token, the assertion header. */
async function asPerson(email: string, method: string, path: string, body?: unknown) {
  const headers: Record<string, string> = { "cf-access-jwt-assertion": await access.assertion(email) };
  if (body !== undefined) headers["content-type"] = "application/json";
  return readReply(await fetch(`${cp.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
}

beforeAll(async () => {
  access = await startAccessTeam();
  cp = await startControlPlane({ vars: access.vars });
  expect((await cp.api("POST", "/api/v1/projects", { slug: "web" })).status).toBe(201);
  const stored = await cp.api("PUT", "/api/v1/projects/web/pipelines/build", undefined, {
    raw: "name: build\njobs:\n  test:\n    runs-on: [linux]\n    steps:\n      - run: echo hi\n",
    headers: { "content-type": "text/plain" },
  });
  expect(stored.status, stored.text).toBe(201);
});
afterAll(async () => {
  await stopAll();
  await cp?.stop();
  await access?.close();
});

describe("people end to end", { timeout: 120_000 }, () => {
  it("a person signs in from the assertion alone, with no rights at first", async () => {
    const me = await asPerson("ada@example.com", "GET", "/api/v1/session");
    expect(me.status, me.text).toBe(200);
    expect(me.json).toMatchObject({ kind: "user", email: "ada@example.com", roles: [] });
    expect((await asPerson("ada@example.com", "GET", "/api/v1/projects/web")).status).toBe(403);
  });

  it("with read they cannot trigger; with run they can, and cancel; the audit log shows who", async () => {
    const grant = (role: string) => cp.api("PUT", "/api/v1/users/ada%40example.com/roles", { project: "web", role });
    expect((await grant("read")).status).toBe(200);
    expect((await asPerson("ada@example.com", "GET", "/api/v1/projects/web")).status).toBe(200);
    expect((await asPerson("ada@example.com", "POST", "/api/v1/projects/web/pipelines/build/runs", {})).status).toBe(403);

    expect((await grant("run")).status).toBe(200);
    const run = await asPerson("ada@example.com", "POST", "/api/v1/projects/web/pipelines/build/runs", {});
    expect(run.status, run.text).toBe(201);
    const cancelled = await asPerson("ada@example.com", "POST", `/api/v1/runs/${run.json.id}/cancel`, {});
    expect(cancelled.status, cancelled.text).toBe(200);

    expect((await asPerson("ada@example.com", "GET", "/api/v1/audit")).status).toBe(403);
    const log = (await cp.api("GET", "/api/v1/audit?project=web")).json.items as { action: string; actor: { kind: string; id: string }; target: string }[];
    const seen = log.map((e) => [e.action, e.actor.kind, e.actor.id]);
    expect(seen).toContainEqual(["run.cancel", "user", "ada@example.com"]);
    expect(seen).toContainEqual(["run.trigger", "user", "ada@example.com"]);
    expect(seen).toContainEqual(["role.grant", "system", "admin-token"]);
    expect((await cp.api("GET", `/api/v1/runs/${run.json.id}`)).json.triggeredBy).toMatchObject({ kind: "user", id: "ada@example.com" });
  });
});
