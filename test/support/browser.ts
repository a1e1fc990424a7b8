import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { type Browser, chromium, type Page } from "playwright-core";
import { expect } from "vitest";

/**
 * The browser-side globals the page.evaluate() callbacks below use. The test programs compile
 * without the DOM library (the Node code must not see browser types), so they are declared here.
 */
type PageElement = { src?: string; href?: string; textContent: string | null; remove(): void };
export type BrowserDocument = { querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>; querySelector(selector: string): PageElement | null };
declare const document: BrowserDocument;
type AxeResult = { violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] };
declare const window: { axe: { run(context: unknown, options: object): Promise<AxeResult> } };

/**
 * Headless Chromium for the browser tests (test/web/): Debian's `chromium` package (`.ci/run`
 * installs it; CHROMIUM_PATH overrides the path), driven by playwright-core.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/** The demo accounts `npm run seed` makes (scripts/seed.ts), all with this password. */
export const DEMO = { password: "edgestock demo", admin: "admin@edgestock.local", buyer: "buyer@edgestock.local", contributor: "ada@edgestock.local" } as const;

/** A new page in its own browser context (own cookies), at a desktop or phone-sized screen. */
export async function newPage(browser: Browser, size: "desktop" | "phone" = "desktop"): Promise<Page> {
  const context = await browser.newContext(
    size === "phone" ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true } : { viewport: { width: 1280, height: 900 } },
  );
  const page = await context.newPage();
  // A page that throws in the browser fails the test that opened it.
  page.on("pageerror", (error) => {
    throw error;
  });
  return page;
}

/** Signs in through the sign-in form, as a person would. */
export async function signIn(page: Page, baseUrl: string, email: string, password: string = DEMO.password): Promise<void> {
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));
}

/** Creates an account through the join form and leaves the page signed in. */
export async function register(page: Page, baseUrl: string, role: "buyer" | "contributor"): Promise<{ email: string; password: string }> {
  const email = `${role}-${crypto.randomUUID()}@example.test`;
  const password = "browser test password";
  await page.goto(`${baseUrl}/register`);
  await page.getByLabel("Name shown").fill(`Browser ${role}`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByLabel(role === "contributor" ? "sell my photographs" : "license images").check();
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL((url) => !url.pathname.startsWith("/register"));
  return { email, password };
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** Runs axe-core on the page and fails on any serious or critical violation (WCAG 2.x A and AA rules). */
export async function expectAccessible(page: Page, label = page.url()): Promise<void> {
  await page.addScriptTag({ content: axeSource });
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(serious, `axe-core on ${label}`).toEqual([]);
}

/** What one page may load, uncompressed (the budget stated in edge/web/layout.tsx and docs/web.md). */
export const BUDGET = { js: 20_000, css: 16_000 } as const;

/** The byte budget, then axe-core (measured before axe's own script is added to the page). */
export async function checkPage(page: Page, label: string = page.url()): Promise<void> {
  const bytes = await scriptAndStyleBytes(page);
  expect(bytes.js, `${label} JavaScript bytes`).toBeLessThanOrEqual(BUDGET.js);
  expect(bytes.css, `${label} CSS bytes`).toBeLessThanOrEqual(BUDGET.css);
  await expectAccessible(page, label);
}

/** Bytes of JavaScript and CSS the page downloaded (the budget in edge/web/layout.tsx). */
export async function scriptAndStyleBytes(page: Page): Promise<{ js: number; css: number }> {
  return page.evaluate(async () => {
    const sum = async (urls: string[]) => {
      let total = 0;
      for (const url of urls) total += (await (await fetch(url)).arrayBuffer()).byteLength;
      return total;
    };
    const scripts = [...document.querySelectorAll("script[src]")].map((s) => s.src ?? "");
    const styles = [...document.querySelectorAll('link[rel="stylesheet"]')].map((l) => l.href ?? "");
    const inline = [...document.querySelectorAll("script:not([src]):not([type='application/ld+json'])")].reduce((n, s) => n + (s.textContent?.length ?? 0), 0);
    return { js: (await sum(scripts)) + inline, css: await sum(styles) };
  });
}
