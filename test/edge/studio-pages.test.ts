import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contributorEarnings, images, imageTags, licenses, payouts } from "../../db/schema";
import { signUp, testDb } from "./support";
import { type Browser, signedInBrowser } from "./web-support";

/**
 * The contributor's studio (edge/web/pages/studio.tsx) as a browser drives it: every page for its
 * contributor, 403 for a buyer, the portfolio's status filter, the earnings chart and tables, the
 * listing form (with AI tags to accept), the Stripe onboarding button, and never another
 * contributor's images.
 */

const { db, pool } = testDb();
afterAll(() => pool.end());

let studio: Browser;
let buyer: Browser;
let meId: string;
const mine: Record<string, string> = {};
let rivalImage: string;
const tag = crypto.randomUUID().slice(0, 8);

async function insertImage(contributorId: string, title: string, values: Partial<typeof images.$inferInsert> = {}) {
  const [row] = await db
    .insert(images)
    .values({ contributorId, title, status: "approved", stage: "done", publishedAt: new Date(), ...values })
    .returning({ id: images.id });
  if (!row) throw new Error("insert failed");
  return row.id;
}

beforeAll(async () => {
  const [me, other, shopper] = await Promise.all([signedInBrowser("contributor"), signUp("contributor"), signedInBrowser("buyer")]);
  studio = me.browser;
  buyer = shopper.browser;
  meId = me.account.userId;
  mine.harbour = await insertImage(meId, `Harbour ${tag}`);
  mine.blurry = await insertImage(meId, `Blurry ${tag}`, { status: "rejected", statusReason: "out of focus", publishedAt: null });
  mine.fresh = await insertImage(meId, `Fresh ${tag}`, { status: "processing", stage: "processing", publishedAt: null });
  rivalImage = await insertImage(other.userId, `Rival ${tag}`);
  mine.dupe = await insertImage(meId, `Dupe ${tag}`, { status: "rejected", statusReason: "duplicate", duplicateOf: rivalImage, publishedAt: null });
  await db.insert(imageTags).values([
    { imageId: mine.harbour as string, tag: `boat${tag}`, source: "ai", confidence: 0.9 },
    { imageId: mine.harbour as string, tag: `sea${tag}`, source: "ai", confidence: 0.8 },
  ]);
  const [license] = await db
    .insert(licenses)
    .values({ buyerId: shopper.account.userId, imageId: mine.harbour as string, licenseType: "standard", priceCents: 2000 })
    .returning({ id: licenses.id });
  await db.insert(contributorEarnings).values({
    contributorId: meId,
    licenseId: license?.id as string,
    imageId: mine.harbour as string,
    kind: "sale",
    grossCents: 2000,
    shareBps: 5000,
    amountCents: 1000,
    status: "available",
    createdAt: new Date("2026-01-10T10:00:00Z"),
  });
  await db.insert(payouts).values({ contributorId: meId, period: "2025-12", amountCents: 4321, status: "paid", stripeTransferId: `tr_${tag}` });
});

const PAGES = ["/studio", "/studio/upload", "/studio/portfolio", "/studio/earnings", "/studio/payouts"];

describe("studio pages", () => {
  it("each page renders for a contributor", async () => {
    for (const path of PAGES) {
      const html = await studio.page(path);
      expect(html).toContain('aria-label="Studio"');
      expect(html).toContain('name="robots" content="noindex"');
    }
  });

  it("a buyer gets 403 on every studio page and form", async () => {
    for (const path of [...PAGES, `/studio/uploads/${mine.harbour}`]) {
      const res = await buyer.fetch(path);
      expect(res.status, path).toBe(403);
    }
    await buyer.page("/");
    const res = await buyer.submit("/studio/payouts/onboarding", {});
    expect(res.status).toBe(403);
  });

  it("the dashboard counts images by status and links to the portfolio", async () => {
    const html = await studio.page("/studio");
    expect(html).toMatch(/data-count="all">4</);
    expect(html).toMatch(/data-count="approved">1</);
    expect(html).toMatch(/data-count="rejected">2</);
    expect(html).toContain('href="/studio/portfolio?status=rejected"');
    expect(html).toContain('href="/studio/upload"');
  });

  it("the upload page has a labelled file input taking several files, and the item template", async () => {
    const html = await studio.page("/studio/upload");
    expect(html).toMatch(/<label for="upload-files">/);
    expect(html).toMatch(/<input id="upload-files" type="file" multiple/);
    expect(html).toContain('<template data-item="true">');
    expect(html).toContain("/static/studio.js");
    expect(html).toContain("/static/studio.css");
  });

  it("the portfolio filters by status", async () => {
    const all = await studio.page("/studio/portfolio");
    for (const id of Object.values(mine)) expect(all).toContain(`data-image="${id}"`);
    const rejected = await studio.page("/studio/portfolio?status=rejected");
    expect(rejected).toContain(`data-image="${mine.blurry}"`);
    expect(rejected).toContain(`data-image="${mine.dupe}"`);
    expect(rejected).not.toContain(`data-image="${mine.harbour}"`);
    expect(rejected).toMatch(/href="\/studio\/portfolio\?status=rejected" aria-current="page"/);
    const approved = await studio.page("/studio/portfolio?status=approved");
    expect(approved).toContain(`data-image="${mine.harbour}"`);
    expect(approved).toContain("1 sale");
    expect((await studio.fetch("/studio/portfolio?status=nonsense")).status).toBe(422);
  });

  it("a contributor never sees another contributor's images", async () => {
    const all = await studio.page("/studio/portfolio");
    expect(all).not.toContain(rivalImage);
    expect(all).not.toContain(`Rival ${tag}`);
    const res = await studio.fetch(`/studio/uploads/${rivalImage}`);
    expect(res.status).toBe(404);
    const post = await studio.submit(`/studio/uploads/${rivalImage}`, { title: "Mine now" });
    expect(post.status).toBe(404);
    const [rival] = await db.select({ title: images.title }).from(images).where(eq(images.id, rivalImage));
    expect(rival?.title).toBe(`Rival ${tag}`);
  });

  it("earnings: balances, the SVG chart by month with its table, and the table by image", async () => {
    const html = await studio.page("/studio/earnings");
    expect(html).toMatch(/data-balance="available">\$10\.00</);
    expect(html).toMatch(/<svg[^>]*data-chart="true"/);
    expect(html).toMatch(/<rect[^>]*class="bar"/);
    expect(html).toContain("<title>2026-01: $10.00</title>");
    expect(html).toMatch(/<table data-months="true">[\s\S]*2026-01[\s\S]*<\/table>/);
    expect(html).toMatch(new RegExp(`<table data-images="true">[\\s\\S]*Harbour ${tag}[\\s\\S]*</table>`));
  });

  it("an upload's page shows its status, reason and the listed duplicate", async () => {
    const html = await studio.page(`/studio/uploads/${mine.dupe}`);
    expect(html).toContain('data-status="rejected"');
    expect(html).toContain("duplicate");
    expect(html).toContain(`href="/images/${rivalImage}"`);
    expect(html).toContain(`Rival ${tag}`);
    const processing = await studio.page(`/studio/uploads/${mine.fresh}`);
    expect(processing).toContain(`data-status-page="${mine.fresh}"`);
  });

  it("the listing form saves the fields and accepts the ticked AI tags as keywords", async () => {
    const html = await studio.page(`/studio/uploads/${mine.harbour}`);
    expect(html).toContain(`value="boat${tag}"`);
    const res = await studio.fetch(`/studio/uploads/${mine.harbour}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams([
        ["_csrf", studio.csrf],
        ["title", `Harbour at dawn ${tag}`],
        ["description", "Boats at rest"],
        ["keywords", "harbour, dawn"],
        ["accept", `boat${tag}`],
        ["editorial", "on"],
      ]).toString(),
    });
    expect(res.status, await res.clone().text()).toBe(303);
    expect(res.headers.get("location")).toBe(`/studio/uploads/${mine.harbour}?saved=1`);
    const [row] = await db
      .select()
      .from(images)
      .where(eq(images.id, mine.harbour as string));
    expect(row).toMatchObject({ title: `Harbour at dawn ${tag}`, description: "Boats at rest", editorial: true });
    const tags = await db
      .select({ tag: imageTags.tag })
      .from(imageTags)
      .where(and(eq(imageTags.imageId, mine.harbour as string), eq(imageTags.source, "contributor")));
    expect(tags.map((t) => t.tag).sort()).toEqual([`boat${tag}`, "dawn", "harbour"].sort());
    const after = await studio.page(`/studio/uploads/${mine.harbour}?saved=1`);
    expect(after).toContain("Saved.");
    expect(after).not.toContain(`name="accept" value="boat${tag}"`);
    expect(after).toContain(`name="accept" value="sea${tag}"`);
  });

  it("an invalid listing form is shown again with what is wrong", async () => {
    await studio.page(`/studio/uploads/${mine.blurry}`);
    const res = await studio.submit(`/studio/uploads/${mine.blurry}`, { title: "" });
    expect(res.status).toBe(422);
    expect(await res.text()).toContain('role="alert"');
  });

  it("payouts: the history, and the button that sends the browser to Stripe's onboarding", async () => {
    const html = await studio.page("/studio/payouts");
    expect(html).toMatch(/<table data-payouts="true">[\s\S]*2025-12[\s\S]*\$43\.21/);
    expect(html).toContain('action="/studio/payouts/onboarding"');
    const res = await studio.submit("/studio/payouts/onboarding", {});
    expect(res.status, await res.clone().text()).toBe(303);
    expect(res.headers.get("location")).toMatch(/^https?:\/\//);
  });
});
