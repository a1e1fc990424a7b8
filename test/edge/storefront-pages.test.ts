import { env } from "cloudflare:test";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { imageCategories, images, imageTags, licensePrices } from "../../db/schema";
import { readConfig } from "../../edge/config";
import { imageSitemaps } from "../../edge/web/pages/seo";
import { signUp, storeTestEmbedding, TEST_MODEL, testDb, workerWith } from "./support";
import { Browser } from "./web-support";

/**
 * The storefront's pages (home, search, image, contributor profile, licence terms) and what crawlers
 * read (robots.txt, sitemap.xml), on images written straight to the database: listed ones and one of
 * every state that must never show on a public page.
 */

const { db, pool } = testDb();
afterAll(() => pool.end());
afterEach(() => vi.restoreAllMocks());

/** A random direction no other test file's embeddings come near; every image here points (almost) along it. */
const DIRECTION = (() => {
  const v = Array.from({ length: TEST_MODEL.dimensions }, () => Math.random() - 0.5);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
})();

const APP = readConfig(env).PUBLIC_APP_URL.replace(/\/+$/, "");
// A word no other test file uses (consonants only, so the English stemmer leaves it alone).
const MARKER = `zq${Array.from({ length: 8 }, () => "bcdfghjklmnpqrtvwxz"[Math.floor(Math.random() * 19)]).join("")}`;

type Listing = {
  key: string;
  size: [number, number];
  colour: string;
  category: "nature" | "transport";
  hidden?: "pending_review" | "taken-down" | "withdrawn";
};

const LISTINGS: Listing[] = [
  { key: "wide", size: [1600, 900], colour: "blue", category: "nature" },
  { key: "wider", size: [1920, 1080], colour: "blue", category: "transport" },
  { key: "widest", size: [2400, 1000], colour: "teal", category: "nature" },
  { key: "tall", size: [800, 1200], colour: "green", category: "nature" },
  { key: "pending", size: [1600, 900], colour: "blue", category: "nature", hidden: "pending_review" },
  { key: "takendown", size: [1600, 900], colour: "blue", category: "nature", hidden: "taken-down" },
  { key: "withdrawn", size: [1600, 900], colour: "blue", category: "nature", hidden: "withdrawn" },
];
const HIDDEN = LISTINGS.filter((l) => l.hidden).map((l) => l.key);
const id: Record<string, string> = {};
const title = (key: string) => `Storefront ${key} ${MARKER}`;
let contributorId = "";

beforeAll(async () => {
  const contributor = await signUp("contributor");
  contributorId = contributor.userId;
  for (const [index, listing] of LISTINGS.entries()) {
    const status = listing.hidden === "pending_review" ? "pending_review" : listing.hidden === "taken-down" ? "rejected" : "approved";
    const [row] = await db
      .insert(images)
      .values({
        contributorId,
        title: title(listing.key),
        description: `A test photograph </script><b>${listing.key}</b>`,
        status,
        stage: "done",
        width: listing.size[0],
        height: listing.size[1],
        colourBucket: listing.colour,
        palette: [{ hex: "#1d4ed8", share: 0.6, bucket: listing.colour }],
        nsfwScore: 0.01,
        tagText: `${MARKER} harbour`,
        // The first listed image is the most popular and the newest (a day ahead: no other file's image passes it).
        saleCount: index === 0 ? 1_000_000_000 : 0,
        metadata: { camera: "Fujifilm X-T5", iso: 200, GPSLatitude: 51.5 },
        // The hidden images sit exactly on the direction a search by image asks for: nearest, yet never shown.
        derivativeKeys: { thumb450: `images/${listing.key}/thumb-450.webp`, preview: `images/${listing.key}/preview-1200.webp` },
        publishedAt: new Date(Date.now() + 86_400_000 - index * 1000),
        withdrawnAt: listing.hidden === "withdrawn" ? new Date() : null,
        takenDownAt: listing.hidden === "taken-down" ? new Date() : null,
      })
      .returning({ id: images.id });
    if (!row) throw new Error("insert failed");
    await storeTestEmbedding(db, row.id, listing.hidden ? DIRECTION : DIRECTION.map((x, i) => (i === index ? x + 0.05 : x)));
    id[listing.key] = row.id;
    await db.insert(imageTags).values([
      { imageId: row.id, tag: MARKER, source: "contributor" as const },
      { imageId: row.id, tag: "harbour", source: "contributor" as const },
    ]);
    await db.insert(imageCategories).values({ imageId: row.id, categorySlug: listing.category, source: "contributor" });
  }
  await db.insert(licensePrices).values([
    { imageId: id.wide, licenseType: "standard", amountCents: 4900 },
    { imageId: id.wide, licenseType: "enhanced", amountCents: 12900 },
  ]);
});

const browser = new Browser();
const hrefs = (html: string) => [...html.matchAll(/href="([^"]+)"/g)].map((m) => (m[1] ?? "").replaceAll("&amp;", "&"));

function expectNoHidden(html: string, where: string) {
  for (const key of HIDDEN) {
    expect(html, `${key} on ${where}`).not.toContain(id[key]);
    expect(html, `${key} on ${where}`).not.toContain(title(key));
  }
}

describe("the home page", () => {
  it("lists the categories (links to a search) and the popular and new images", async () => {
    const html = await browser.page("/");
    expect(html).toContain('href="/search?category=nature"');
    expect(html).toMatch(/<h2 id="popular">Popular images<\/h2>\s*<ul class="grid">.*?Storefront wide /s);
    expect(html).toMatch(/<h2 id="newest">New images<\/h2>\s*<ul class="grid">.*?Storefront wide /s);
    expect(html).toContain(`href="/images/${id.wide}"`);
    expect(html).toContain(`<link rel="canonical" href="${APP}/"/>`);
    expectNoHidden(html, "home");
  });
});

describe("the search page", () => {
  it("finds by text, narrows by a facet and keeps every filter in the facet, sort and paging links", async () => {
    const all = await browser.page(`/search?q=${MARKER}&perPage=1`);
    expect(all).toContain("4 images");
    expectNoHidden(all, "search");
    const orientation = hrefs(all).find((h) => h.includes("orientation=landscape"));
    expect(orientation).toBe(`/search?q=${MARKER}&orientation=landscape&perPage=1`);

    const narrowed = await browser.page(`${orientation}&colour=blue`);
    expect(narrowed).toContain("2 images");
    expect(narrowed).toContain('aria-current="true"');
    const next = hrefs(narrowed).find((h) => h.includes("page=2"));
    expect(next).toBe(`/search?q=${MARKER}&orientation=landscape&colour=blue&perPage=1&page=2`);
    const second = await browser.page(next as string);
    expect(second).toContain("Page 2 of 2");
    expect(hrefs(second)).toContain(`/search?q=${MARKER}&orientation=landscape&colour=blue&perPage=1`);
    // Clearing one facet keeps the other.
    expect(hrefs(second)).toContain(`/search?q=${MARKER}&orientation=landscape&perPage=1`);
    // Sorting keeps the filters too.
    expect(hrefs(second)).toContain(`/search?q=${MARKER}&orientation=landscape&colour=blue&sort=newest&perPage=1`);
  });

  it("shows the colour placeholder of each result and a category facet with names and counts", async () => {
    const html = await browser.page(`/search?q=${MARKER}`);
    expect(html).toContain('style="background:#1d4ed8"');
    expect(html).toMatch(/href="\/search\?q=[a-z]+&amp;category=nature"[^>]*>Nature[^<]*<span class="count"> \(3\)/);
    // The contributor facet counts the whole result set, with the contributor's name.
    expect(html).toContain(`contributor=${contributorId}">Test contributor<span class="count"> (4)</span>`);
    expect(html).toContain("data-drop-search");
    expect(html).toContain("data-drop-status");
  });

  it("answers bad parameters with a 400 page, never a 500", async () => {
    for (const query of ["orientation=diagonal", "colour=plaid", "page=0", "perPage=5000", "unknown=1", "contributor=nope", "from=yesterday", "page=2&cursor=abc", "cursor=abc"]) {
      const res = await browser.fetch(`/search?q=sea&${query}`);
      const html = await res.text();
      expect(res.status, `${query}: ${html.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
      expect(res.status, query).toBeLessThan(500);
      expect(res.headers.get("content-type"), query).toMatch(/^text\/html/);
    }
  });

  it("shows the images like a dropped or uploaded picture, never a hidden one", async () => {
    const target = workerWith({ EMBED_SERVICE_URL: "http://embed.test", WORKER_SHARED_SECRET: "secret" });
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      if (request.url !== "http://embed.test/embed/image?model=fake-clip") return realFetch(input, init);
      return Response.json({ model: "fake-clip", version: "1", dimensions: TEST_MODEL.dimensions, embedding: DIRECTION });
    });
    const visitor = new Browser(target);
    await visitor.page("/search");
    // A phone photo's size, well over the 64 KB every other body is held to (only the query-image limit applies).
    const jpeg = new Uint8Array(3 * 1024 * 1024);
    jpeg.set([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]);
    // As app.js sends a dropped file: the raw picture, the token in a header.
    const dropped = await visitor.fetch("/search/by-image", { method: "POST", body: jpeg, headers: { "content-type": "image/jpeg", "x-csrf-token": visitor.csrf } });
    const html = await dropped.text();
    expect(dropped.status, html.slice(0, 500)).toBe(200);
    expect(html).toContain("<h1>Images like yours</h1>");
    for (const key of ["wide", "wider", "widest", "tall"]) expect(html).toContain(`href="/images/${id[key]}"`);
    expectNoHidden(html, "search by image");
    // Without JavaScript: the drop zone is a multipart form with the token in `_csrf`.
    const form = new FormData();
    form.set("_csrf", visitor.csrf);
    form.set("image", new File([jpeg], "query.jpg", { type: "image/jpeg" }));
    const uploaded = await visitor.fetch("/search/by-image", { method: "POST", body: form });
    const page = await uploaded.text();
    expect(uploaded.status, page.slice(0, 500)).toBe(200);
    expect(page).toContain(`href="/images/${id.wide}"`);
    expectNoHidden(page, "search by image (form)");
  });

  it("refuses a search by image it cannot run with a clear 4xx or 503 page", async () => {
    await browser.page("/search");
    const text = await browser.fetch("/search/by-image", { method: "POST", body: "hello", headers: { "content-type": "text/plain", "x-csrf-token": browser.csrf } });
    expect(text.status).toBe(415);
    const png = await browser.fetch("/search/by-image", {
      method: "POST",
      body: new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
      headers: { "content-type": "image/png", "x-csrf-token": browser.csrf },
    });
    expect([422, 503]).toContain(png.status);
    expect(await png.text()).toMatch(/<h1>/);
    const forged = await browser.fetch("/search/by-image", { method: "POST", body: "x", headers: { "content-type": "image/png" } });
    expect(forged.status).toBe(403);
    const huge = await browser.fetch("/search/by-image", {
      method: "POST",
      body: new Uint8Array(10 * 1024 * 1024 + 1),
      headers: { "content-type": "image/png", "x-csrf-token": browser.csrf },
    });
    expect(huge.status).toBe(413);
  });
});

describe("the image page", () => {
  it("shows the preview, facts, licence options with add-to-cart forms, and what search engines read", async () => {
    const html = await browser.page(`/images/${id.wide}`);
    const canonical = `${APP}/images/${id.wide}`;
    expect(html).toContain(`<link rel="canonical" href="${canonical}"/>`);
    expect(html).toContain(`<meta property="og:url" content="${canonical}"/>`);
    expect(html).toMatch(/<meta property="og:image" content="[^"]+\/images\/wide\/preview-1200\.webp"\/>/);
    expect(html).toContain(`<meta property="og:title" content="${title("wide")}"/>`);
    expect(html).toContain('<meta property="og:type"');
    expect(html).toContain('<meta property="og:description"');
    expect(html).toContain('<meta name="twitter:card" content="summary_large_image"/>');
    expect(html).toContain(`href="/contributors/${contributorId}"`);
    expect(html).toContain(`href="/search?q=harbour"`);
    expect(html).toContain("1600 × 900 pixels");
    expect(html).toContain("Fujifilm X-T5");
    expect(html).not.toContain("51.5");
    expect(html).toContain("#1d4ed8");
    // One form per licence option, posting the image and the licence type with the CSRF token.
    const forms = [...html.matchAll(/<form method="post" action="\/cart\/items">(.*?)<\/form>/gs)].map((m) => m[1] ?? "");
    expect(forms.length).toBeGreaterThanOrEqual(2);
    expect(html).toContain("$49.00");
    expect(html).toContain("$129.00");
    for (const form of forms) {
      expect(form).toContain('name="_csrf"');
      expect(form).toContain(`name="imageId" value="${id.wide}"`);
      expect(form).toMatch(/name="licenseType" value="(standard|enhanced|editorial)"/);
      expect(form).toMatch(/<button type="submit">Add to cart/);
    }

    const ld = /<script type="application\/ld\+json">(.*?)<\/script>/s.exec(html)?.[1] ?? "";
    // The description holds "</script>": escaped, so it cannot end the element.
    expect(ld).not.toContain("</");
    const object = JSON.parse(ld);
    expect(object).toMatchObject({
      "@context": "https://schema.org",
      "@type": "ImageObject",
      name: title("wide"),
      contentUrl: expect.stringMatching(/\/images\/wide\/preview-1200\.webp$/),
      thumbnailUrl: expect.stringMatching(/\/images\/wide\/thumb-450\.webp$/),
      creator: { "@type": "Person", name: "Test contributor" },
      license: `${APP}/licenses/terms`,
      acquireLicensePage: canonical,
    });
    expect(object.description).toContain("</script>");
    expect(object.creditText).toContain("Test contributor");
    expect(object.copyrightNotice).toContain("Test contributor");
    const terms = await browser.page("/licenses/terms");
    expect(terms).toContain('id="standard"');
    expect(terms).toContain("Standard License");
  });

  it("is a 404 page for unknown, malformed, pending, taken-down and withdrawn images", async () => {
    for (const path of [`/images/${crypto.randomUUID()}`, "/images/not-an-id", ...HIDDEN.map((key) => `/images/${id[key]}`)]) {
      const res = await browser.fetch(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type"), path).toMatch(/^text\/html/);
    }
  });
});

describe("the contributor profile", () => {
  it("shows the name and the listed images only, paged", async () => {
    const html = await browser.page(`/contributors/${contributorId}`);
    expect(html).toContain("<h1>Test contributor</h1>");
    expect(html).toContain("4 images");
    expect(html).toContain(`href="/images/${id.tall}"`);
    expectNoHidden(html, "profile");
    expect((await browser.fetch(`/contributors/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await browser.fetch("/contributors/nobody")).status).toBe(404);
    expect((await browser.fetch(`/contributors/${contributorId}?page=zero`)).status).toBe(400);
    const empty = await browser.page(`/contributors/${contributorId}?page=9`);
    expect(empty).toContain("No images listed yet.");
  });
});

describe("what crawlers read", () => {
  it("robots.txt keeps account, cart, studio, console, sign-in and the API out and points at the sitemap", async () => {
    const res = await browser.fetch("/robots.txt", { headers: { accept: "text/plain" } });
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const path of ["/account", "/cart", "/checkout", "/studio", "/console", "/login", "/register", "/v1/"]) expect(text).toContain(`Disallow: ${path}\n`);
    expect(text).not.toMatch(/^Disallow: \/$/m);
    expect(text).toContain(`Sitemap: ${APP}/sitemap.xml`);
  });

  it("sitemap.xml lists the home, search and listed image pages, never a hidden one", async () => {
    const res = await browser.fetch("/sitemap.xml", { headers: { accept: "application/xml" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/xml/);
    const xml = await res.text();
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">')).toBe(true);
    expect(xml).toContain(`<loc>${APP}/</loc>`);
    expect(xml).toContain(`<loc>${APP}/search</loc>`);
    for (const key of ["wide", "wider", "widest", "tall"]) expect(xml).toContain(`<loc>${APP}/images/${id[key]}</loc>`);
    for (const key of HIDDEN) expect(xml).not.toContain(id[key] as string);
    expect(xml.trim().endsWith("</urlset>")).toBe(true);
    expect((await browser.fetch("/sitemaps/images-1.xml")).status).toBe(200);
    expect((await browser.fetch("/sitemaps/images-99.xml")).status).toBe(404);
    expect((await browser.fetch("/sitemaps/other.xml")).status).toBe(404);
  });

  it("splits more than 50,000 URLs into image sitemaps of 50,000 under a sitemap index", () => {
    // The home, search and licence terms pages share the first file with the images.
    expect(imageSitemaps(0)).toBe(1);
    expect(imageSitemaps(49_997)).toBe(1);
    expect(imageSitemaps(49_998)).toBe(2);
    expect(imageSitemaps(149_997)).toBe(3);
    expect(imageSitemaps(149_998)).toBe(4);
  });
});
