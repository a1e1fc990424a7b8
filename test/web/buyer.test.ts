import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { checkPage, launchBrowser, newPage, register, signIn } from "../support/browser";

/**
 * A buyer in a real browser on the seeded stack: finds an image by text, adds it to the cart on
 * its page, checks out, pays on the Stripe stand-in's page (which posts the signed webhooks to the
 * edge and sends the browser back), lands on the confirmation and downloads the original from the
 * licences page. The cart, confirmation and licences pages are checked with axe and the byte budget.
 */

const url = inject("webUrl");
let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe("a buyer buys an image and downloads it", () => {
  it("searches, adds to the cart, pays on the stand-in, and downloads the original", async () => {
    const page = await newPage(browser);
    const account = await register(page, url, "buyer");

    // Find an image by a word of the seeded titles and open its page.
    await page.goto(`${url}/search?q=abstract`);
    await page.locator("ul.grid a").first().click();
    await page.waitForURL(/\/images\/[0-9a-f-]{36}$/);
    const title = (await page.locator("h1").first().textContent())?.trim() ?? "";
    expect(title).not.toBe("");

    await page
      .getByRole("button", { name: /^Add to cart/ })
      .first()
      .click();
    await page.waitForURL(`${url}/cart`);
    await expect.poll(() => page.getByRole("link", { name: title }).count()).toBeGreaterThan(0);
    await checkPage(page, "/cart");

    // Check out: the stand-in's hosted page, then Pay.
    await page.getByRole("button", { name: "Check out" }).click();
    await page.waitForURL((u) => !u.href.startsWith(url));
    await page.getByRole("button", { name: "Pay", exact: true }).click();
    await page.waitForURL((u) => u.href.startsWith(`${url}/checkout/order/success`));
    // The confirmation refreshes itself until the webhook has settled the order.
    await page.getByRole("heading", { name: /your order is paid/ }).waitFor({ timeout: 30_000 });
    expect(await page.getByRole("link", { name: title }).count()).toBeGreaterThan(0);
    await checkPage(page, "/checkout/order/success");

    await page.getByRole("link", { name: "Your licences" }).click();
    await page.waitForURL(`${url}/account/licenses`);
    await checkPage(page, "/account/licenses");
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: `Download ${title}` }).click()]);
    expect(await download.failure()).toBeNull();
    expect(download.suggestedFilename()).toMatch(/\.(jpe?g|png|webp)$/);
    // The signed URL the browser was sent to serves the image itself.
    const file = await fetch(download.url());
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type") ?? "").toMatch(/^image\//);
    expect((await file.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    await page.context().close();

    // The same licences page at phone size.
    const phone = await newPage(browser, "phone");
    await signIn(phone, url, account.email, account.password);
    await phone.goto(`${url}/account/licenses`);
    await phone.getByRole("button", { name: `Download ${title}` }).waitFor();
    const overflow = await phone.evaluate(() => {
      const root = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
      return root.scrollWidth - root.clientWidth;
    });
    expect(overflow, "no sideways scrolling at 390px").toBeLessThanOrEqual(0);
    await checkPage(phone, "/account/licenses (phone)");
    await phone.goto(`${url}/cart`);
    await checkPage(phone, "/cart (phone, empty)");
    await phone.context().close();
  });

  it("saves an image to a new board from its page, shares the board, and both board pages are accessible", async () => {
    const page = await newPage(browser);
    await register(page, url, "buyer");
    await page.goto(`${url}/search?q=abstract`);
    await page.locator("ul.grid a").first().click();
    await page.waitForURL(/\/images\/[0-9a-f-]{36}$/);
    const title = (await page.locator("h1").first().textContent())?.trim() ?? "";
    await checkPage(page, "/images/:id (signed in)");
    await page.getByLabel("New board's name").fill("Shortlist");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.waitForURL(/\/account\/boards\/[0-9a-f-]{36}$/);
    expect(await page.getByRole("link", { name: title }).count()).toBeGreaterThan(0);
    await checkPage(page, "/account/boards/:id");
    await page.getByRole("button", { name: "Create a share link" }).click();
    const link = await page.getByLabel("Anyone with this link sees the board, read-only").inputValue();
    expect(link).toMatch(/\/boards\/[A-Za-z0-9_-]{43}$/);
    await page.goto(`${url}/account/boards`);
    await checkPage(page, "/account/boards");
    const visitor = await newPage(browser);
    await visitor.goto(url + new URL(link).pathname);
    expect(await visitor.getByRole("link", { name: title }).count()).toBeGreaterThan(0);
    await checkPage(visitor, "/boards/:token");
    await visitor.context().close();
    await page.context().close();
  });

  it("serves the other account pages accessibly", async () => {
    const page = await newPage(browser);
    await register(page, url, "buyer");
    for (const path of ["/account", "/account/orders", "/account/subscription", "/account/api-keys", "/checkout/order/canceled"]) {
      const res = await page.goto(url + path);
      expect(res?.status(), path).toBe(200);
      await checkPage(page, path);
    }
    await page.context().close();
  });
});
