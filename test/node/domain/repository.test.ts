import { describe, expect, it } from "vitest";
import { redactRepository } from "../../../domain/repository.ts";

describe("redactRepository", () => {
  it("hides the userinfo of URLs that may carry a credential, and keeps login names", () => {
    const cases: [string, string][] = [
      ["https://user:token@github.com/acme/web.git", "https://***@github.com/acme/web.git"],
      ["https://ghp_abc@github.com/acme/web.git", "https://***@github.com/acme/web.git"],
      ["http://a%40b:p%3Ass@host:8080/r.git?x=1", "http://***@host:8080/r.git?x=1"],
      ["ssh://git:hunter2@host/r.git", "ssh://***@host/r.git"],
      ["git:hunter2@host:r.git", "***@host:r.git"],
      // Not credentials: ssh login names, an `@` in the path, no userinfo at all.
      ["ssh://git@host/r.git", "ssh://git@host/r.git"],
      ["git@github.com:acme/web.git", "git@github.com:acme/web.git"],
      ["https://github.com/acme/@scope/web.git", "https://github.com/acme/@scope/web.git"],
      ["/srv/git/web.git", "/srv/git/web.git"],
      ["file:///srv/git/web.git", "file:///srv/git/web.git"],
    ];
    for (const [given, shown] of cases) expect(redactRepository(given), given).toBe(shown);
  });
});
