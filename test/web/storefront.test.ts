import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { checkPage, launchBrowser, newPage } from "../support/browser";

/**
 * The storefront in Chromium on the seeded stack: a buyer finds images by text, narrows them by a
 * facet (the URL keeps the query, the back button returns to the unfiltered results), opens an image
 * page and sees its licence options and "Add to cart". Home, search and image pages pass axe and the
 * byte budget; the search page also at phone size.
 */

const url = inject("webUrl");
let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe("the storefront in a real browser", () => {
  it("finds images by text, narrows by a facet, goes back, and opens an image page with its licences", async () => {
    const page = await newPage(browser);
    await page.goto(url);
    await checkPage(page, "/");
    expect(await page.getByRole("heading", { name: "Categories" }).count()).toBe(1);
    expect(await page.locator("ul.grid img").count()).toBeGreaterThan(0);

    // Search by text from the header's search box.
    await page.getByLabel("Search images").fill("abstract");
    await page.getByLabel("Search images").press("Enter");
    await page.waitForURL((u) => u.pathname === "/search" && u.searchParams.get("q") === "abstract");
    const unfiltered = page.url();
    const total = await page.locator("ul.grid li").count();
    expect(total).toBeGreaterThan(1);
    await checkPage(page, "/search");

    // Narrow by a facet: the URL keeps the query and adds the filter.
    await page
      .getByRole("navigation", { name: "Orientation" })
      .getByRole("link", { name: /^Portrait/ })
      .click();
    await page.waitForURL((u) => u.searchParams.get("orientation") === "portrait");
    expect(new URL(page.url()).searchParams.get("q")).toBe("abstract");
    const narrowed = await page.locator("ul.grid li").count();
    expect(narrowed).toBeGreaterThan(0);
    expect(narrowed).toBeLessThan(total);
    expect(await page.getByRole("link", { name: /^Portrait/, exact: false }).getAttribute("aria-current")).toBe("true");

    // The back button returns to the unfiltered results.
    await page.goBack();
    await page.waitForURL(unfiltered);
    expect(await page.locator("ul.grid li").count()).toBe(total);

    // Open an image page: preview, licence options, add to cart.
    await page.locator("ul.grid a").first().click();
    await page.waitForURL(/\/images\/[0-9a-f-]{36}$/);
    const title = (await page.locator("h1").textContent())?.trim() ?? "";
    expect(title).not.toBe("");
    expect(await page.getByRole("img", { name: title }).first().isVisible()).toBe(true);
    expect(await page.getByRole("heading", { name: "Licences" }).count()).toBe(1);
    expect(await page.getByRole("heading", { name: /License/ }).count()).toBeGreaterThan(0);
    expect(await page.getByRole("button", { name: /^Add to cart/ }).count()).toBeGreaterThan(0);
    const ld = JSON.parse((await page.locator('script[type="application/ld+json"]').textContent()) ?? "{}");
    expect(ld).toMatchObject({ "@type": "ImageObject", name: title, acquireLicensePage: expect.stringContaining("/images/") });
    await checkPage(page, "/images/:id");

    // The contributor's profile, from the image page, and the licence terms the JSON-LD points at.
    await page.locator("main").getByRole("link", { name: /^By / }).or(page.locator('main a[href^="/contributors/"]')).first().click();
    await page.waitForURL(/\/contributors\/[0-9a-f-]{36}$/);
    expect(await page.locator("ul.grid li").count()).toBeGreaterThan(0);
    await checkPage(page, "/contributors/:id");
    await page.goto(`${url}/licenses/terms`);
    expect(await page.getByRole("heading", { name: "Standard License" }).count()).toBe(1);
    await checkPage(page, "/licenses/terms");
    await page.context().close();
  });

  it("suggests tags as you type, and answers a picture dropped on the search page without a CLIP model", async () => {
    const page = await newPage(browser);
    await page.goto(`${url}/search`);
    await page.getByLabel("Search images").pressSequentially("abst", { delay: 20 });
    await expect.poll(() => page.locator("#q-suggestions option").count(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await page.locator("#q-suggestions option").first().getAttribute("value")).toMatch(/^abst/);

    // A picture chosen in the drop zone is posted by app.js; offline there is no embedding service (503).
    const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/search/by-image")),
      page.getByLabel(/Search by image/).setInputFiles({ name: "query.png", mimeType: "image/png", buffer: png }),
    ]);
    expect([200, 422, 503]).toContain(response.status());
    if (response.status() !== 200) await expect.poll(() => page.locator("[data-drop-status]").textContent()).not.toBe("");
    await page.context().close();
  });

  it("works at phone size: the search page wraps, passes axe and keeps its facets reachable", async () => {
    const page = await newPage(browser, "phone");
    await page.goto(`${url}/search?q=abstract`);
    await checkPage(page, "/search (phone)");
    const overflow = await page.evaluate(() => {
      const root = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
      return root.scrollWidth - root.clientWidth;
    });
    expect(overflow, "no horizontal scrolling at 390px").toBeLessThanOrEqual(1);
    // On a phone the results come first, the filters after them, one tap away.
    const resultsTop = (await page.locator("ul.grid").boundingBox())?.y ?? Number.POSITIVE_INFINITY;
    const filtersTop = (await page.locator("aside#filters").boundingBox())?.y ?? 0;
    expect(resultsTop, "results above the filters").toBeLessThan(filtersTop);
    await page.getByRole("link", { name: "Filters", exact: true }).click();
    await page.getByRole("navigation", { name: "Orientation" }).getByRole("link").first().click();
    await page.waitForURL((u) => u.searchParams.has("orientation"));
    expect(new URL(page.url()).searchParams.get("q")).toBe("abstract");
    await page.context().close();
  });
});
