/**
 * The README's screenshots, taken from a freshly seeded stack (`npm start` + `npm run seed`) in
 * Debian's Chromium: the storefront (home, search, image page), the studio and the console, at a
 * desktop size, and the search page at a phone size. Written to docs/screenshots/*.jpg (JPEG, quality 80: small enough for git).
 * Run: `npm run screenshots` (CHROMIUM_PATH overrides /usr/bin/chromium).
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { chromium, type Page } from "playwright-core";
import { startSeededStack } from "./lib/stack";

const out = resolve(import.meta.dirname, "../docs/screenshots");
mkdirSync(out, { recursive: true });
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];
const DEMO_PASSWORD = "edgestock demo";

const stack = await startSeededStack();
const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
try {
  const found = (await (await fetch(`${stack.url}/v1/search?perPage=1`)).json()) as { results: { id: string; title: string }[] };
  const image = found.results[0];
  if (!image) throw new Error("the seeded catalogue lists no image");
  // A query with a page of results: the demo catalogue's largest subject.
  const word = "animal";

  const shoot = async (page: Page, path: string, name: string) => {
    await page.goto(stack.url + path, { waitUntil: "networkidle" });
    await page.screenshot({ path: resolve(out, `${name}.jpg`), type: "jpeg", quality: 80 });
    console.log(`docs/screenshots/${name}.jpg  ${path}`);
  };
  const signedIn = async (email: string) => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await page.goto(`${stack.url}/login`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(DEMO_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((url) => !url.pathname.startsWith("/login"));
    return page;
  };

  const visitor = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await shoot(visitor, "/", "home");
  await shoot(visitor, `/search?q=${encodeURIComponent(word)}`, "search");
  await shoot(visitor, `/images/${image.id}`, "image");
  const phone = await (await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 })).newPage();
  await shoot(phone, `/search?q=${encodeURIComponent(word)}`, "search-phone");
  await shoot(await signedIn("ada@edgestock.local"), "/studio/upload", "studio");
  await shoot(await signedIn("admin@edgestock.local"), "/console/review", "console");
} finally {
  await browser.close();
  await stack.stop();
}
process.exit(0);
