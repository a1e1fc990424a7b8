import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, Page, Route } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type BrowserDocument, BUDGET, expectAccessible, launchBrowser, newPage, register, scriptAndStyleBytes } from "../support/browser";

/**
 * The contributor's studio in a real browser against the seeded stack (the GPU worker processes
 * what is uploaded): a new contributor drops two photographs on the upload page, watches a
 * progress bar each, fills in the details and sees both approved without reloading; a large file
 * goes up in parts (one part failing once and retried); every studio page passes axe-core and the
 * byte budget, and the upload page works on a phone-sized screen.
 */

const url = inject("webUrl");
let browser: Browser;
let scratch: string;

// Not near-duplicates of anything in demo/ (the seeded catalogue).
const PHOTOS = ["horse.png", "motorcycle_right.png"].map((name) => resolve(import.meta.dirname, "../fixtures/photos", name));
// An exact copy of a seeded, approved photograph (demo/manifest.csv: "Tabby cat face close-up").
const DEMO_PHOTO = resolve(import.meta.dirname, "../../demo/photos/tabby-cat-face.jpg");
const STUDIO_PAGES = ["/studio", "/studio/upload", "/studio/portfolio", "/studio/earnings", "/studio/payouts"];
const PROCESSING_TIMEOUT = 120_000;

const item = (page: Page, name: string) => page.locator("li.upload", { has: page.getByRole("heading", { name }) });
const stateOf = (page: Page, name: string) => item(page, name).locator("[data-state]").textContent();

const horizontalOverflow = (page: Page) =>
  page.evaluate(() => {
    const doc = (globalThis as unknown as { document: BrowserDocument & { documentElement: { scrollWidth: number; clientWidth: number } } }).document;
    return doc.documentElement.scrollWidth - doc.documentElement.clientWidth;
  });

beforeAll(async () => {
  browser = await launchBrowser();
  scratch = mkdtempSync(join(tmpdir(), "edgestock-studio-"));
});
afterAll(async () => {
  await browser?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("the contributor's studio in a real browser", () => {
  it("uploads two files at once, shows a progress bar each, saves their details and watches both get approved", async () => {
    const page = await newPage(browser);
    await register(page, url, "contributor");
    await page.goto(`${url}/studio`);
    await page.getByRole("link", { name: "Upload images" }).click();
    await page.waitForURL(`${url}/studio/upload`);
    // The presigned URLs point at this origin locally (the S3 stand-in), so no CORS is involved here.
    const puts: string[] = [];
    page.on("request", (request) => {
      if (request.method() === "PUT") puts.push(new URL(request.url()).origin);
    });

    // The local stack has no CLIP weights, so the tagger suggests nothing: add a suggestion to each
    // status answer so the page's handling of AI tags runs (the save below is the real PATCH).
    await page.route(/\/v1\/images\/[0-9a-f-]{36}\/status$/, async (route) => {
      const response = await route.fetch();
      const status = (await response.json()) as { aiTags: { tag: string; confidence: number | null }[] };
      await route.fulfill({ response, json: { ...status, aiTags: [...status.aiTags, { tag: "equine", confidence: 0.9 }] } });
    });
    await page.getByLabel("Choose files").setInputFiles(PHOTOS);
    for (const name of ["horse.png", "motorcycle_right.png"]) {
      await expect.poll(() => item(page, name).count()).toBe(1);
      await expect.poll(() => item(page, name).locator("progress").count()).toBe(1);
      await expect.poll(() => item(page, name).getByRole("button", { name: "Save details" }).isEnabled(), { timeout: 30_000 }).toBe(true);
    }

    // The details of the first file, through its own form.
    const horse = item(page, "horse.png");
    await horse.getByLabel("Title").fill("Horse in a paddock");
    await horse.getByLabel("Description").fill("A horse standing side-on.");
    await horse.getByLabel("Keywords (comma-separated)").fill("horse, animal, farm");
    await horse.getByLabel("Animals").check();
    await horse.getByRole("button", { name: "Save details" }).click();
    await expect.poll(() => horse.locator("[data-saved]").textContent()).toBe("Saved");
    const moto = item(page, "motorcycle_right.png");
    await moto.getByLabel("Title").fill("Motorcycle, right side");
    await moto.getByLabel("Transport").check();
    await moto.getByRole("button", { name: "Save details" }).click();
    await expect.poll(() => moto.locator("[data-saved]").textContent()).toBe("Saved");

    // Both finish on their own: the status polls the API, nobody reloads.
    for (const name of ["horse.png", "motorcycle_right.png"]) {
      await expect.poll(() => stateOf(page, name), { timeout: PROCESSING_TIMEOUT, interval: 1000 }).toBe("Approved");
      expect(await item(page, name).locator("progress").getAttribute("value")).toBe("100");
      expect(await item(page, name).getAttribute("data-mode")).toBe("single");
    }
    expect(puts.length).toBeGreaterThanOrEqual(2);
    expect(new Set(puts)).toEqual(new Set([new URL(url).origin]));

    // After processing, the AI tags from the status are offered; ticking one adds it to the keywords.
    const suggested = horse.locator('[data-ai] input[name="accept"][value="equine"]');
    expect(await suggested.isVisible()).toBe(true);
    await suggested.check();
    await horse.getByRole("button", { name: "Save details" }).click();
    await expect.poll(() => horse.getByLabel("Keywords (comma-separated)").inputValue()).toBe("horse, animal, farm, equine");

    // The saved details are what the studio shows for the image.
    await horse.getByRole("link", { name: "Open in the studio" }).click();
    await page.waitForURL(/\/studio\/uploads\//);
    expect(await page.getByLabel("Title").inputValue()).toBe("Horse in a paddock");
    expect(await page.getByLabel("Keywords (comma-separated)").inputValue()).toBe("animal, equine, farm, horse");
    expect(await page.getByLabel("Animals").isChecked()).toBe(true);
    await expectAccessible(page, "/studio/uploads/:id");

    // The portfolio lists both as approved.
    await page.goto(`${url}/studio/portfolio?status=approved`);
    await expect.poll(() => page.locator("[data-portfolio] li").count()).toBe(2);
    await page.context().close();
  });

  it("sends a file in parts when the ticket says multipart, retrying a part that failed", async () => {
    // ~20 MB of noise as PNG: above the 16 MiB part size, so two parts.
    const side = 2600;
    const noise = Buffer.alloc(side * side * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    const big = join(scratch, "noise-large.png");
    writeFileSync(
      big,
      await sharp(noise, { raw: { width: side, height: side, channels: 3 } })
        .png({ compressionLevel: 0 })
        .toBuffer(),
    );

    const page = await newPage(browser);
    await register(page, url, "contributor");
    await page.goto(`${url}/studio/upload`);
    // Ask the API for multipart on anything above 1 MB (the API's own threshold is 64 MiB); the page follows its ticket.
    await page.locator("[data-upload]").evaluate((root) => root.setAttribute("data-multipart-above", "1000000"));
    // The first attempt at part 1 fails; the page retries it on its own.
    let failed = 0;
    const parts: string[] = [];
    await page.route(/\/_local\/s3\/.*partNumber=/, async (route) => {
      const partNumber = new URL(route.request().url()).searchParams.get("partNumber") ?? "";
      if (partNumber === "1" && failed === 0) {
        failed++;
        await route.fulfill({ status: 500, body: "injected failure" });
        return;
      }
      parts.push(partNumber);
      await route.continue();
    });
    await page.getByLabel("Choose files").setInputFiles(big);
    const upload = item(page, "noise-large.png");
    await expect.poll(() => stateOf(page, "noise-large.png"), { timeout: PROCESSING_TIMEOUT, interval: 500 }).toMatch(/^(Processing|Approved|In review|Refused|Failed)$/);
    expect(await upload.getAttribute("data-mode")).toBe("multipart");
    expect(failed).toBe(1);
    expect(parts).toEqual(["1", "2"]);
    expect(await upload.locator("progress").getAttribute("value")).toBe("100");
    await page.context().close();
  });

  it("offers a Retry button when storage keeps refusing, and finishes the upload when pressed", async () => {
    const small = join(scratch, "retry-me.jpg");
    writeFileSync(
      small,
      await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 30, g: 90, b: 160 } } })
        .jpeg()
        .toBuffer(),
    );
    const page = await newPage(browser);
    await register(page, url, "contributor");
    await page.goto(`${url}/studio/upload`);
    let refused = 0;
    const failAll = async (route: Route) => {
      if (route.request().method() !== "PUT") return route.continue();
      refused++;
      await route.fulfill({ status: 503, body: "storage unavailable" });
    };
    await page.route(/\/_local\/s3\//, failAll);
    await page.getByLabel("Choose files").setInputFiles(small);
    const upload = item(page, "retry-me.jpg");
    const retry = upload.getByRole("button", { name: "Retry" });
    await expect.poll(() => retry.isVisible(), { timeout: 30_000, interval: 250 }).toBe(true);
    expect(await stateOf(page, "retry-me.jpg")).toBe("Upload failed");
    expect(refused).toBe(4);
    await page.unroute(/\/_local\/s3\//, failAll);
    await retry.click();
    await expect.poll(() => stateOf(page, "retry-me.jpg"), { timeout: PROCESSING_TIMEOUT, interval: 500 }).toMatch(/^(Processing|Approved|In review|Refused)$/);
    expect(await retry.isVisible()).toBe(false);
    await page.context().close();
  });

  it("serves every studio page accessibly within the byte budget, and the upload page at phone size", async () => {
    const page = await newPage(browser);
    await register(page, url, "contributor");
    for (const path of STUDIO_PAGES) {
      const res = await page.goto(url + path);
      expect(res?.status(), path).toBe(200);
      const bytes = await scriptAndStyleBytes(page);
      expect(bytes.js, `${path} JavaScript bytes`).toBeLessThanOrEqual(BUDGET.js);
      expect(bytes.css, `${path} CSS bytes`).toBeLessThanOrEqual(BUDGET.css);
      await expectAccessible(page, path);
    }
    await page.goto(`${url}/studio/portfolio?status=rejected`);
    await expectAccessible(page, "/studio/portfolio?status=rejected");
    await page.context().close();

    // At phone size: a re-upload of a photograph already in the catalogue is refused, and the page
    // shows the reason and the listed original (thumbnail and link) without reloading.
    const phone = await newPage(browser, "phone");
    await register(phone, url, "contributor");
    await phone.goto(`${url}/studio/upload`);
    await phone.getByLabel("Choose files").setInputFiles(DEMO_PHOTO);
    const name = "tabby-cat-face.jpg";
    await expect.poll(() => stateOf(phone, name), { timeout: PROCESSING_TIMEOUT, interval: 1000 }).toBe("Refused");
    const refused = item(phone, name);
    expect(await refused.locator("[data-reason]").textContent()).toContain("duplicate");
    const original = refused.locator("[data-duplicate] a");
    expect(await original.isVisible()).toBe(true);
    expect(await original.getAttribute("href")).toMatch(/^\/images\/[0-9a-f-]{36}$/);
    expect(await original.locator("img").getAttribute("src")).toBeTruthy();
    expect(await original.textContent()).toContain("Tabby cat");
    await expect.poll(() => horizontalOverflow(phone)).toBeLessThanOrEqual(0);
    await expectAccessible(phone, "/studio/upload (phone)");
    await phone.context().close();
  });
});
