// Issue 13, item 9: credentials in a project's repository URL are shown to nobody — not in the
// project's view, the project list, the run, nor its lineage events — and still reach the
// agent that checks the code out.
import { describe, expect, it } from "vitest";
import { api } from "./api-client.ts";
import { claim, registerAgent } from "./agent-client.ts";

const PIPE = "jobs:\n  build:\n    runs-on: [creds]\n    steps:\n      - run: make\n";
const CLONE_URL = "https://ci-bot:ghp_s3cretTokenValue@github.com/acme/web.git";

describe("a repository URL with credentials", () => {
  it("is redacted in every view and whole in the job assignment", async () => {
    const created = await api("POST", "/api/v1/projects", { body: { slug: "with-creds", repository: CLONE_URL } });
    expect(created.status).toBe(201);
    expect(created.json.repository).toBe("https://***@github.com/acme/web.git");
    await api("PUT", "/api/v1/projects/with-creds/pipelines/build", { raw: PIPE, headers: { "content-type": "text/plain" } });
    const reader = (await api("POST", "/api/v1/tokens", { body: { name: "reader", scopes: ["read"] } })).json.token;

    const project = await api("GET", "/api/v1/projects/with-creds", { token: reader });
    expect(project.status).toBe(200);
    expect(project.json.repository).toBe("https://***@github.com/acme/web.git");
    const list = await api("GET", "/api/v1/projects", { token: reader });
    expect(list.json.items.find((p: { slug: string }) => p.slug === "with-creds").repository).toBe("https://***@github.com/acme/web.git");

    const run = (await api("POST", "/api/v1/projects/with-creds/pipelines/build/runs")).json;
    const agent = await registerAgent("creds-agent", ["creds"]);
    const assignment = await claim(agent.token);
    expect(assignment.status).toBe(200);
    expect(assignment.json.repository).toBe(CLONE_URL); // the checkout needs it

    for (const path of [`/api/v1/runs/${run.id}`, `/api/v1/runs/${run.id}/lineage`, "/api/v1/projects"]) {
      const answer = await api("GET", path, { token: reader });
      expect(answer.status, path).toBe(200);
      expect(answer.text, path).not.toContain("ghp_s3cretTokenValue");
    }
    const lineage = (await api("GET", `/api/v1/runs/${run.id}/lineage`, { token: reader })).json;
    expect(JSON.stringify(lineage)).toContain("https://***@github.com/acme/web.git");
  });
});
