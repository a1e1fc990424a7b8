import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type BrowserDocument, BUDGET, DEMO, expectAccessible, launchBrowser, newPage, scriptAndStyleBytes, signIn } from "../support/browser";

const url = inject("webUrl");
let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe("who may open what, in a real browser", () => {
  it("sends an anonymous visitor of account, studio and console pages to sign in", async () => {
    const page = await newPage(browser);
    for (const path of ["/account", "/studio", "/console"]) {
      await page.goto(url + path);
      expect(new URL(page.url()).pathname, path).toBe("/login");
      expect(new URL(page.url()).searchParams.get("next"), path).toBe(path);
    }
    await page.context().close();
  });

  it("refuses the console to a buyer, and takes them back where they were going after sign-in", async () => {
    const page = await newPage(browser);
    await page.goto(`${url}/account`);
    await page.getByLabel("Email").fill(DEMO.buyer);
    await page.getByLabel("Password").fill(DEMO.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${url}/account`);
    const console = await page.goto(`${url}/console`);
    expect(console?.status()).toBe(403);
    await page.context().close();
  });

  it("refuses a form posted without the CSRF token", async () => {
    const page = await newPage(browser);
    await signIn(page, url, DEMO.buyer);
    // The sign-out form, with its token removed, as a forged cross-site form would arrive.
    await page.evaluate(() => (globalThis as unknown as { document: BrowserDocument }).document.querySelector('form[action="/logout"] input[name="_csrf"]')?.remove());
    const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith("/logout")), page.getByRole("button", { name: "Sign out" }).click()]);
    expect(response.status()).toBe(403);
    // Still signed in: nothing happened.
    await page.goto(`${url}/account`);
    expect(new URL(page.url()).pathname).toBe("/account");
    await page.context().close();
  });

  it("serves the sign-in and home pages accessibly, within the byte budget", async () => {
    const page = await newPage(browser);
    for (const path of ["/", "/login", "/register"]) {
      await page.goto(url + path);
      const bytes = await scriptAndStyleBytes(page);
      expect(bytes.js, `${path} JavaScript bytes`).toBeLessThanOrEqual(BUDGET.js);
      expect(bytes.css, `${path} CSS bytes`).toBeLessThanOrEqual(BUDGET.css);
      expect(bytes.css, `${path} has its stylesheet (Workers Static Assets)`).toBeGreaterThan(1000);
      await expectAccessible(page, path);
    }
    await page.context().close();
  });
});

describe("with the keyboard alone", () => {
  /** Presses Tab until the focused element matches `selector` (at most `limit` presses); fails otherwise. */
  async function tabTo(page: import("playwright-core").Page, selector: string, limit = 60) {
    for (let i = 0; i < limit; i++) {
      await page.keyboard.press("Tab");
      if (
        await page.evaluate(
          (s) => (globalThis as unknown as { document: { activeElement: { matches(s: string): boolean } | null } }).document.activeElement?.matches(s) ?? false,
          selector,
        )
      )
        return;
    }
    throw new Error(`Tab never reached ${selector}`);
  }

  it("skips to the content, searches, opens an image and adds it to the cart", async () => {
    const page = await newPage(browser);
    await signIn(page, url, DEMO.buyer);
    await page.goto(url);
    await page.keyboard.press("Tab");
    await expect
      .poll(() => page.evaluate(() => (globalThis as unknown as { document: { activeElement: { textContent: string } | null } }).document.activeElement?.textContent?.trim()))
      .toBe("Skip to content");
    await tabTo(page, "input#q");
    await page.keyboard.type("animal");
    await page.keyboard.press("Enter");
    await page.waitForURL((u) => u.pathname === "/search" && u.searchParams.get("q") === "animal");
    await tabTo(page, 'main a[href^="/images/"]');
    await page.keyboard.press("Enter");
    await page.waitForURL((u) => u.pathname.startsWith("/images/"));
    const imageId = new URL(page.url()).pathname.split("/")[2];
    await tabTo(page, 'form[action="/cart/items"] button');
    await page.keyboard.press("Enter");
    await page.waitForURL(`${url}/cart`);
    expect(await page.locator(`main a[href="/images/${imageId}"]`).count()).toBeGreaterThan(0);
    await page.context().close();
  });
});
