// Issue 23's end-to-end proof: the real `wrangler dev` with the Access vars set, a JWKS served by
// this test (an RSA key made here) and assertions signed like Cloudflare Access signs them. A
// person with read cannot trigger; with run they can; the audit log shows the grant, the trigger
// and the cancel with their actor; a person who is not an admin cannot read it.
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readReply } from "../support/reply.ts";
import { type ControlPlane, freePort, startControlPlane, stopAll } from "./harness.ts";

const AUD = "e2e-access-aud";
let cp: ControlPlane;
let jwks: Server;
let teamDomain = "";
let privateKey: CryptoKey;

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
const encodeJson = (value: unknown) => b64url(new TextEncoder().encode(JSON.stringify(value)));

async function assertion(email: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const header = encodeJson({ alg: "RS256", kid: "e2e-key", typ: "JWT" });
  const payload = encodeJson({ aud: [AUD], email, exp: now + 3600, iat: now, nbf: now, iss: teamDomain, type: "app" });
  const signature = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", privateKey, new TextEncoder().encode(`${header}.${payload}`)));
  return `${header}.${payload}.${b64url(signature)}`;
}

/** A request as a browser behind Access makes it: no token, the assertion header. */
async function asPerson(email: string, method: string, path: string, body?: unknown) {
  const headers: Record<string, string> = { "cf-access-jwt-assertion": await assertion(email) };
  if (body !== undefined) headers["content-type"] = "application/json";
  return readReply(await fetch(`${cp.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
}

beforeAll(async () => {
  const pair = (await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as { privateKey: CryptoKey; publicKey: CryptoKey };
  privateKey = pair.privateKey;
  const publicJwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const port = await freePort();
  teamDomain = `http://127.0.0.1:${port}`;
  jwks = createServer((req, res) => {
    if (req.url !== "/cdn-cgi/access/certs") return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [{ ...publicJwk, kid: "e2e-key", alg: "RS256" }] }));
  });
  await new Promise<void>((resolve) => jwks.listen(port, "127.0.0.1", resolve));
  cp = await startControlPlane({ vars: { YM_ACCESS_TEAM_DOMAIN: teamDomain, YM_ACCESS_AUD: AUD } });
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
  jwks?.close();
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
