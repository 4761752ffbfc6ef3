/**
 * The dashboard's browser tests drive Debian's Chromium (`apt-get install chromium`; .ci/run
 * installs it) with playwright-core against the real `wrangler dev` of test/e2e/harness.ts.
 * Every browser a test launches is closed by `closeBrowsers()` (call it in afterAll).
 */
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import type { ControlPlane } from "../e2e/harness.ts";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];

const browsers = new Set<Browser>();

export async function launch(): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  browsers.add(browser);
  return browser;
}

export async function closeBrowsers(): Promise<void> {
  await Promise.all([...browsers].map((b) => b.close().catch(() => undefined)));
  browsers.clear();
}

export interface Viewer {
  context: BrowserContext;
  page: Page;
  /** Page errors and console errors other than expected 401s, for asserting a clean run. */
  problems: string[];
}

/**
 * A new browser context (its own cookies), with a page at `path`. `headers` go with every request
 * the context makes (e.g. `Cf-Access-Jwt-Assertion`, as Cloudflare Access adds it in front of a deployment).
 */
export async function open(
  browser: Browser,
  cp: ControlPlane,
  path = "/",
  options: { colorScheme?: "light" | "dark"; width?: number; height?: number; headers?: Record<string, string> } = {},
): Promise<Viewer> {
  const context = await browser.newContext({
    baseURL: cp.url,
    viewport: { width: options.width ?? 1280, height: options.height ?? 860 },
    colorScheme: options.colorScheme ?? "light",
    acceptDownloads: true,
    extraHTTPHeaders: options.headers,
  });
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 401/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on("dialog", (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(path);
  return { context, page, problems };
}

/** Signs in through the form with `token` (the admin token by default). */
export async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
}

/** A signed-in viewer in one call. */
export async function signedIn(browser: Browser, cp: ControlPlane, path = "/runs", options: Parameters<typeof open>[3] = {}): Promise<Viewer> {
  const viewer = await open(browser, cp, path, options);
  await signIn(viewer.page, cp.adminToken);
  return viewer;
}

/** The pipeline editor's (CodeMirror's) lines marked by the linter, 1-based. */
export async function lintedLines(page: Page): Promise<number[]> {
  await page.locator(".editor[data-ready]").waitFor();
  return page.locator(".editor .cm-content .cm-line").evaluateAll((lines) =>
    lines.flatMap((l, i) => (l.querySelector(".cm-lintRange-error") ? [i + 1] : [])),
  );
}

/** The 1-based line the pipeline editor's caret is on. */
export async function caretLine(page: Page): Promise<number> {
  return page.locator(".editor .cm-content").evaluate((content) => {
    const selection = document.getSelection();
    const lines = [...content.querySelectorAll(".cm-line")];
    return lines.findIndex((l) => selection?.anchorNode && l.contains(selection.anchorNode)) + 1;
  });
}
