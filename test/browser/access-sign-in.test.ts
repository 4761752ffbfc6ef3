// Issue 23's browser proof: behind Cloudflare Access a person is signed in by the assertion alone.
// The real `wrangler dev` with the Access vars set, a JWKS served by the test (test/support/access.ts),
// and a Chromium context that sends `Cf-Access-Jwt-Assertion` on every request, as Access does in
// front of a deployment. An admin (the admin token, through the API) creates two projects and grants
// the person read on one; the person opens the dashboard: no token asked, their email shown as who
// is signed in, and only the project they may read listed.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startControlPlane, stopAll } from "../e2e/harness.ts";
import { type AccessTeam, startAccessTeam } from "../support/access.ts";
import { closeBrowsers, launch, open, type Viewer } from "./browser.ts";

const EMAIL = "ada@example.com";

let access: AccessTeam;
let cp: ControlPlane;
let browser: Browser;
let viewer: Viewer;
let page: Page;

beforeAll(async () => {
  access = await startAccessTeam();
  cp = await startControlPlane({ vars: access.vars });
  for (const [slug, name] of [
    ["web", "Web shop"],
    ["billing", "Billing"],
  ]) {
    const created = await cp.api("POST", "/api/v1/projects", { slug, name });
    expect(created.status, created.text).toBe(201);
  }
  const granted = await cp.api("PUT", `/api/v1/users/${encodeURIComponent(EMAIL)}/roles`, { project: "web", role: "read" });
  expect(granted.status, granted.text).toBe(200);
  browser = await launch();
  viewer = await open(browser, cp, "/", { headers: { "Cf-Access-Jwt-Assertion": await access.assertion(EMAIL) } });
  page = viewer.page;
});

afterAll(async () => {
  await closeBrowsers();
  await cp?.stop();
  await stopAll();
  await access?.close();
});

describe("signing in through Cloudflare Access", () => {
  it("without the assertion, the dashboard asks for a token", async () => {
    const stranger = await open(browser, cp, "/");
    await stranger.page.getByLabel("Token").waitFor();
    expect(await stranger.page.getByRole("navigation", { name: "Main" }).count()).toBe(0);
    expect(stranger.problems).toEqual([]);
    await stranger.context.close();
  });

  it("signs the person in from the assertion alone and shows their email", async () => {
    await page.getByRole("navigation", { name: "Main" }).waitFor();
    // Signed in at "/", the dashboard moves to the runs, as after a token sign-in.
    await page.waitForURL((url) => url.pathname === "/runs", { timeout: 10_000 });
    expect(await page.getByLabel("Token").count()).toBe(0);

    const who = page.locator(".topbar .who");
    expect(await who.textContent()).toBe(EMAIL);
    expect(await who.getAttribute("data-kind")).toBe("user");
    expect(await who.getAttribute("title")).toBe(`signed in through Cloudflare Access as ${EMAIL}`);
    // Signing out is Access's; no token cookie was made for them.
    expect(await page.getByRole("link", { name: "Sign out" }).getAttribute("href")).toBe("/cdn-cgi/access/logout");
    expect((await viewer.context.cookies()).map((c) => c.name)).not.toContain("ym_session");
    // Read on one project: no pages for admins of every project.
    const nav = page.getByRole("navigation", { name: "Main" });
    expect(await nav.getByRole("link", { name: "People" }).count()).toBe(0);
    expect(await nav.getByRole("link", { name: "Audit" }).count()).toBe(0);
  });

  it("lists only the project they may read", async () => {
    await page.getByRole("link", { name: "Projects", exact: true }).click();
    await page.waitForURL((url) => url.pathname === "/projects");
    const titles = page.locator(".cards .card-title");
    await titles.first().waitFor();
    expect(await titles.allTextContents()).toEqual(["Web shop"]);
    expect(await page.locator(".cards").textContent()).not.toContain("billing");
    // Read is not admin: no project to create.
    expect(await page.getByRole("button", { name: "New project" }).count()).toBe(0);

    await titles.first().click();
    await page.getByRole("heading", { name: "Web shop" }).waitFor();
  });

  it("met no script error on the way", () => {
    expect(viewer.problems).toEqual([]);
  });
});
