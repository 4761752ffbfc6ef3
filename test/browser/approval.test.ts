// Approvals from the dashboard (issue 17): the runs list marks a run waiting for approval; its
// run page shows the prompt and a form for the typed inputs; a missing required input is
// refused by the API and the message shows at its field; approving carries the input to the
// next job (a real agent runs it) and the run succeeds with the approver shown (someone who may
// only read sees the prompt, not the form); a rejection with a reason fails the run. axe finds
// nothing on these pages, nor on the per-job re-run button of an ended run, in either theme.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "../e2e/harness.ts";
import { violations } from "./axe.ts";
import { closeBrowsers, launch, open, signedIn, signIn, type Viewer } from "./browser.ts";

const PIPELINE = `jobs:
  build:
    runs-on: [linux]
    steps:
      - run: echo built
  approve:
    needs: [build]
    type: approval
    approval:
      prompt: "Ship it to production?"
      inputs:
        canary: { type: number, description: "percent of the traffic that gets it first" }
        note: { type: string, default: "weekly release" }
        dry: { type: boolean, default: false }
  deploy:
    needs: [approve]
    runs-on: [linux]
    steps:
      - id: ship
        run: echo "canary=\${{ needs.approve.outputs.canary }}" >> "$YM_OUTPUT"
`;

let cp: ControlPlane;
let browser: Browser;
let viewer: Viewer;

async function waitingRun(): Promise<{ id: string; number: number }> {
  const run = await cp.api("POST", "/api/v1/projects/ship/pipelines/release/runs", { branch: "main" });
  expect(run.status, JSON.stringify(run.json)).toBe(201);
  await waitFor(
    "the approval job to wait",
    async () => {
      const jobs = (await cp.api("GET", `/api/v1/runs/${run.json.id}`)).json.attempts.at(-1).jobs as { key: string; waitingOn: string[] }[];
      return jobs.find((j) => j.key === "approve")?.waitingOn.join() === "approval";
    },
    { timeoutMs: 60_000 },
  );
  return { id: run.json.id, number: run.json.number };
}

const runStatus = async (id: string) => (await cp.api("GET", `/api/v1/runs/${id}`)).json.status as string;

let first: { id: string; number: number };
let second: { id: string; number: number };

beforeAll(async () => {
  cp = await startControlPlane();
  await startAgent(cp, { name: "shipper", labels: ["linux"] });
  expect((await cp.api("POST", "/api/v1/projects", { slug: "ship" })).status).toBe(201);
  const put = await cp.api("PUT", "/api/v1/projects/ship/pipelines/release", undefined, { raw: PIPELINE, headers: { "content-type": "text/plain" } });
  expect(put.status, JSON.stringify(put.json)).toBe(201);
  first = await waitingRun();
  browser = await launch();
  viewer = await signedIn(browser, cp, "/runs");
});

afterAll(async () => {
  await closeBrowsers();
  await cp?.stop();
  await stopAll();
});

describe("approving a run from the dashboard", () => {
  it("the runs list marks the run waiting for approval, and its badge opens the approval", async () => {
    const page = viewer.page;
    const badge = page.getByRole("link", { name: `Waiting for approval: run #${first.number}, job approve` });
    await badge.waitFor();
    expect(await badge.textContent()).toBe("Waiting for approval");
    await badge.click();
    await page.waitForURL((url) => url.pathname === `/runs/${first.id}` && url.searchParams.get("job") === "approve");
    await page.getByRole("heading", { name: "Ship it to production?" }).waitFor();
  });

  it("shows a control per input type, marks the required one, and shows the API's refusal at its field", async () => {
    const page = viewer.page;
    const form = page.getByRole("form", { name: "Approve approve" });
    const canary = form.getByLabel("canary");
    expect(await canary.getAttribute("type")).toBe("number");
    expect(await canary.evaluate((e) => (e as HTMLInputElement).required)).toBe(true);
    expect(await form.locator('[data-input="canary"] abbr[title="required"]').count()).toBe(1);
    expect(await form.getByLabel("canary").getAttribute("aria-describedby")).toContain("approval-input-canary-help");
    expect(await form.getByLabel("note").inputValue()).toBe("weekly release");
    expect(await form.locator('[data-input="note"] abbr[title="required"]').count()).toBe(0);
    expect(await form.getByRole("checkbox", { name: "dry" }).isChecked()).toBe(false);

    // Approve with the required input left blank: the API says so, at the field.
    await form.getByRole("button", { name: "Approve" }).click();
    const message = form.locator("#approval-input-canary-error");
    await message.waitFor();
    expect(await message.textContent()).toBe('input "canary" is required');
    expect(await canary.getAttribute("aria-invalid")).toBe("true");
    expect(await canary.getAttribute("aria-describedby")).toContain("approval-input-canary-error");
    expect(await runStatus(first.id)).toBe("RUNNING");
  });

  it("shows someone who may only read the prompt, but no form and no buttons", async () => {
    const token = (await cp.api("POST", "/api/v1/tokens", { name: "reader", scopes: ["read"] })).json.token as string;
    const reader = await open(browser, cp, "/");
    await signIn(reader.page, token);
    await reader.page.goto(`/runs/${first.id}?job=approve`);
    await reader.page.getByRole("heading", { name: "Ship it to production?" }).waitFor();
    await reader.page.getByText("Waiting for someone who may run this project's pipelines").waitFor();
    expect(await reader.page.getByRole("button", { name: "Approve", exact: true }).count()).toBe(0);
    expect(await reader.page.getByRole("button", { name: "Reject…", exact: true }).count()).toBe(0);
    expect(reader.problems).toEqual([]);
    await reader.context.close();
  });

  it("approving carries the input to the next job, the run succeeds and the approver is shown", async () => {
    const page = viewer.page;
    const form = page.getByRole("form", { name: "Approve approve" });
    await form.getByLabel("canary").fill("25");
    await form.getByRole("button", { name: "Approve" }).click();

    const decided = page.locator(".approval [data-decided-by]");
    await decided.waitFor();
    expect(await decided.textContent()).toMatch(/^Approved by admin/);
    expect(await page.locator('.approval [data-output="canary"] .kv-v').textContent()).toBe("25");
    expect(await page.getByRole("form", { name: "Approve approve" }).count()).toBe(0);

    await expect.poll(() => page.locator(".run-title .badge").textContent(), { timeout: 60_000, interval: 250 }).toContain("Succeeded");
    // The next job got the input: its step wrote it as an output.
    await page.locator('[data-job="deploy"]').first().click();
    await expect.poll(() => page.locator('.steps-table tr[data-step="ship"] .kv-v').first().textContent(), { timeout: 20_000 }).toBe("25");

    const run = (await cp.api("GET", `/api/v1/runs/${first.id}`)).json;
    const jobs = run.attempts[0].jobs as { key: string; status: string; outputs: Record<string, string>; attempts: { decidedBy: string | null }[] }[];
    const approve = jobs.find((j) => j.key === "approve")!;
    expect(approve.outputs).toEqual({ canary: "25", note: "weekly release", dry: "false" });
    expect(approve.attempts[0]!.decidedBy).toBe("admin");

    // The list no longer marks it.
    await page.goto("/runs");
    await page.locator(`tr[data-run="${first.id}"][data-status="SUCCESS"]`).waitFor();
    expect(await page.locator(`tr[data-run="${first.id}"] .approval-badge`).count()).toBe(0);
  });

  it("axe finds nothing on the runs list, the approval form (with a refusal shown), the reject dialog and the per-job re-run button, in both themes", async () => {
    second = await waitingRun();
    for (const theme of ["light", "dark"] as const) {
      const context = await browser.newContext({ baseURL: cp.url, bypassCSP: true, colorScheme: theme, viewport: { width: 1280, height: 860 } });
      context.setDefaultTimeout(20_000);
      const page = await context.newPage();
      await page.goto("/");
      await signIn(page, cp.adminToken);
      const found: Record<string, string[]> = {};
      const check = async (what: string) => {
        const v = await violations(page);
        if (v.length > 0) found[what] = v;
      };
      await page.goto("/runs");
      await page.locator(`tr[data-run="${second.id}"] .approval-badge`).waitFor();
      await check("runs list with a run waiting for approval");
      await page.goto(`/runs/${second.id}`);
      const form = page.getByRole("form", { name: "Approve approve" });
      await form.waitFor();
      await check("run page with the approval form");
      await form.getByRole("button", { name: "Approve" }).click();
      await page.locator("#approval-input-canary-error").waitFor();
      await check("approval form showing the API's refusal");
      await form.getByRole("button", { name: "Reject…" }).click();
      await page.getByRole("dialog", { name: "Reject approve?" }).waitFor();
      await check("reject dialog");
      await page.keyboard.press("Escape");
      await page.goto(`/runs/${first.id}?job=approve`);
      await page.getByRole("button", { name: "Re-run job approve" }).waitFor();
      await page.locator(".approval [data-decided-by]").waitFor();
      await check("ended run: the approver and the per-job re-run button");
      await page.goto(`/runs/${first.id}?job=deploy`);
      await page.getByRole("button", { name: "Re-run job deploy" }).waitFor();
      await check("ended run: a job's re-run button with its steps");
      await context.close();
      expect(found, theme).toEqual({});
    }
  });

  it("rejecting with a reason fails the run and shows who rejected it and why", async () => {
    const page = viewer.page;
    await page.goto(`/runs/${second.id}`);
    const form = page.getByRole("form", { name: "Approve approve" });
    await form.getByRole("button", { name: "Reject…" }).click();
    const dialog = page.getByRole("dialog", { name: "Reject approve?" });
    await dialog.getByLabel("Reason (optional)").fill("the freeze is on");
    await dialog.getByRole("button", { name: "Reject", exact: true }).click();
    const decided = page.locator(".approval [data-decided-by]");
    await decided.waitFor();
    expect(await decided.textContent()).toMatch(/^Rejected by admin.*Reason: the freeze is on$/);
    await expect.poll(() => page.locator(".run-title .badge").textContent(), { timeout: 30_000, interval: 250 }).toContain("Failed");
    expect(await runStatus(second.id)).toBe("FAILED");
  });

  it("met no script error on the way", () => {
    // The refused approve is a 400 the page shows; the browser logs the failed request too.
    expect(viewer.problems.filter((p) => !/status of 400/.test(p))).toEqual([]);
  });
});
