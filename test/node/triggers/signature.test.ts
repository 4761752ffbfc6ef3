import { sign } from "@octokit/webhooks-methods";
import { describe, expect, it } from "vitest";
import { signBody, verifySignature } from "../../../domain/triggers/signature.ts";

describe("webhook signatures", () => {
  const secret = "It's a Secret to Everybody";
  const body = JSON.stringify({ zen: "Design for failure." });

  it("signs as GitHub does (X-Hub-Signature-256)", async () => {
    expect(await signBody(secret, body)).toBe(await sign(secret, body));
    // GitHub's documented example.
    expect(await signBody(secret, "Hello, World!")).toBe("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  });

  it("accepts the right signature and refuses a wrong, malformed or missing one", async () => {
    const good = await sign(secret, body);
    expect(await verifySignature(secret, body, good)).toBe("ok");
    expect(await verifySignature(secret, body, good.toUpperCase().replace("SHA256=", "sha256="))).toBe("ok");
    expect(await verifySignature("another secret", body, good)).toBe("mismatch");
    expect(await verifySignature(secret, `${body} `, good)).toBe("mismatch");
    expect(await verifySignature(secret, body, good.replace("sha256=", "sha1="))).toBe("malformed");
    expect(await verifySignature(secret, body, "sha256=abc")).toBe("malformed");
    expect(await verifySignature(secret, body, undefined)).toBe("missing");
  });
});
