/**
 * Cloudflare Access as the tests play it in front of a real `wrangler dev`: an RSA key made here,
 * its JWKS served on 127.0.0.1 at `/cdn-cgi/access/certs` (the team domain the worker is told
 * of), and assertions signed like Access signs them (RS256, `aud`, `iss`, `exp`, `nbf`).
 * Pass `access.vars` to startControlPlane; send `await access.assertion(email)` as the
 * `Cf-Access-Jwt-Assertion` header; `close()` in afterAll.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface AccessTeam {
  /** `http://127.0.0.1:<port>`: the JWKS is at `<teamDomain>/cdn-cgi/access/certs`, and `iss` is this. */
  teamDomain: string;
  aud: string;
  /** The worker's vars that turn Access sign-in on (YM_ACCESS_TEAM_DOMAIN, YM_ACCESS_AUD). */
  vars: { YM_ACCESS_TEAM_DOMAIN: string; YM_ACCESS_AUD: string };
  /** A valid assertion for `email`, for an hour from now. */
  assertion(email: string): Promise<string>;
  close(): Promise<void>;
}

const KID = "e2e-key";
const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
const encodeJson = (value: unknown) => b64url(new TextEncoder().encode(JSON.stringify(value)));

export async function startAccessTeam(aud = "e2e-access-aud"): Promise<AccessTeam> {
  const pair = (await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as { privateKey: CryptoKey; publicKey: CryptoKey };
  const publicJwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const server = createServer((req, res) => {
    if (req.url !== "/cdn-cgi/access/certs") return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [{ ...publicJwk, kid: KID, alg: "RS256" }] }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const teamDomain = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    teamDomain,
    aud,
    vars: { YM_ACCESS_TEAM_DOMAIN: teamDomain, YM_ACCESS_AUD: aud },
    async assertion(email) {
      const now = Math.floor(Date.now() / 1000);
      const header = encodeJson({ alg: "RS256", kid: KID, typ: "JWT" });
      const payload = encodeJson({ aud: [aud], email, exp: now + 3600, iat: now, nbf: now, iss: teamDomain, type: "app" });
      const signature = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", pair.privateKey, new TextEncoder().encode(`${header}.${payload}`)));
      return `${header}.${payload}.${b64url(signature)}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // The worker's fetches of the JWKS may keep their connections open.
        server.closeAllConnections();
      }),
  };
}
