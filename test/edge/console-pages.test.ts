import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditLog, images, licensePrices, payouts, users } from "../../db/schema";
import { testDb, testSearchModel } from "./support";
import { type Browser, signedInBrowser } from "./web-support";

/**
 * The admin console's pages (edge/web/pages/console.tsx) driven through their forms, as a browser
 * would: each action must do what the /v1/admin route does (status change, audit entry).
 */

const { db, pool } = testDb();
afterAll(() => pool.end());

let admin: Browser;
let adminId: string;
let contributorId: string;
const contributorName = `Console Studio ${crypto.randomUUID().slice(0, 8)}`;
// Priced in a currency no other test file uses, so the marketplace's defaults stay as they are.
const CURRENCY = "xbb";

async function insertImage(values: Partial<typeof images.$inferInsert> = {}) {
  const [row] = await db
    .insert(images)
    .values({ contributorId, title: `Console image ${crypto.randomUUID().slice(0, 8)}`, status: "pending_review", stage: "done", ...values })
    .returning({ id: images.id, title: images.title });
  if (!row) throw new Error("insert failed");
  return row;
}

const imageRow = async (id: string) => (await db.select().from(images).where(eq(images.id, id)))[0];
const auditFor = (targetId: string) => db.select().from(auditLog).where(eq(auditLog.targetId, targetId));

/** The review queue's pages, followed through their "Next page" links, as one HTML string. */
async function wholeQueue(browser: Browser): Promise<string> {
  let path: string | undefined = "/console/review";
  let html = "";
  for (let pages = 0; path && pages < 100; pages++) {
    const pageHtml = await browser.page(path);
    html += pageHtml;
    const next = /<a href="(\/console\/review\?cursor=[^"]+)">Next page<\/a>/.exec(pageHtml)?.[1];
    path = next?.replaceAll("&amp;", "&");
  }
  return html;
}

const PAGES = ["/console", "/console/review", "/console/takedown", "/console/audit", "/console/prices", "/console/payouts"];

beforeAll(async () => {
  const signedIn = await signedInBrowser("admin");
  admin = signedIn.browser;
  adminId = signedIn.account.userId;
  const [user] = await db
    .insert(users)
    .values({ email: `console-${crypto.randomUUID()}@example.test`, passwordHash: "unused", role: "contributor", displayName: contributorName })
    .returning({ id: users.id });
  if (!user) throw new Error("no contributor");
  contributorId = user.id;
});

describe("console pages", () => {
  it("say on the home page which CLIP model search reads", async () => {
    const model = await testSearchModel(db);
    const html = await admin.page("/console");
    expect(html).toMatch(new RegExp(`<span>Search model</span><strong>${model.model}</strong><span class="muted">(${model.dimensions} dimensions|switching to [^<]+)</span>`));
  });

  it("render for an admin, with the console menu and a heading", async () => {
    for (const path of PAGES) {
      const html = await admin.page(path);
      expect(html, path).toContain('aria-label="Console"');
      expect(html, path).toContain('<meta name="robots" content="noindex"/>');
      expect(html, path).toMatch(/<h1>[^<]+<\/h1>/);
    }
  });

  for (const role of ["contributor", "buyer"] as const) {
    it(`refuse a ${role} with 403`, async () => {
      const { browser } = await signedInBrowser(role);
      for (const path of PAGES) {
        const res = await browser.fetch(path);
        expect(res.status, path).toBe(403);
      }
      await browser.page("/");
      const post = await browser.submit(`/console/review/${crypto.randomUUID()}/approve`, {});
      expect(post.status).toBe(403);
    });
  }
});

describe("the review queue", () => {
  it("shows a held image with its preview, score, reasons and the image it nearly duplicates side by side", async () => {
    const original = await insertImage({ status: "approved", title: `Original ${crypto.randomUUID().slice(0, 8)}` });
    const held = await insertImage({
      duplicateOf: original.id,
      nsfwScore: 0.37,
      statusReason: "near duplicate of an image on sale",
      derivativeKeys: { thumb450: "images/console/thumb-450.webp", preview: "images/console/preview-1200.webp" },
    });
    const html = await wholeQueue(admin);
    const start = html.indexOf(`id="item-${held.id}"`);
    expect(start).toBeGreaterThan(-1);
    const item = html.slice(start, html.indexOf("</li>", start));
    expect(item).toContain(held.title);
    expect(item).toContain(contributorName);
    expect(item).toContain("0.37");
    expect(item).toContain("near duplicate of an image on sale");
    expect(item).toMatch(new RegExp(`<img src="[^"]*preview-1200\\.webp[^"]*" alt="${held.title}"`));
    expect(item).toContain(`<a href="/images/${original.id}">${original.title}</a>`);
    expect(item).toContain(`<label for="reason-${held.id}">`);
    expect(item).toContain('minlength="3"');
  });

  it("approves from the queue: the image goes on sale, audited with the admin, and leaves the queue", async () => {
    const held = await insertImage({ statusReason: "nsfw score 0.3" });
    await admin.page("/console/review");
    const res = await admin.submit(`/console/review/${held.id}/approve`, {});
    expect(res.status, await res.clone().text()).toBe(303);
    expect(res.headers.get("location")).toBe("/console/review?done=approved");
    expect(await admin.page("/console/review?done=approved")).toContain("Approved: the image is on sale");
    expect(await imageRow(held.id)).toMatchObject({ status: "approved", statusReason: null });
    const entries = await auditFor(held.id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actorId: adminId, action: "moderation.approve", detail: { from: "pending_review", to: "approved" } });
    expect(await wholeQueue(admin)).not.toContain(`id="item-${held.id}"`);
  });

  it("refuses a rejection without a reason (or a too-short one) with the form, and changes nothing", async () => {
    const held = await insertImage();
    await admin.page("/console/review");
    for (const reason of [undefined, "", "  ", "no"]) {
      const res = await admin.submit(`/console/review/${held.id}/reject`, reason === undefined ? {} : { reason });
      const html = await res.text();
      expect(res.status, String(reason)).toBe(422);
      expect(html).toContain("Give a reason to reject");
      expect(html).toContain(`id="reason-${held.id}"`);
      expect(html).toContain('role="alert"');
    }
    expect(await imageRow(held.id)).toMatchObject({ status: "pending_review" });
    expect(await auditFor(held.id)).toHaveLength(0);
  });

  it("rejects from the queue with the reason, audited, and the image leaves the queue", async () => {
    const held = await insertImage();
    await admin.page("/console/review");
    const res = await admin.submit(`/console/review/${held.id}/reject`, { reason: "  Blurry and off-topic  " });
    expect(res.status, await res.clone().text()).toBe(303);
    expect(res.headers.get("location")).toBe("/console/review?done=rejected");
    expect(await imageRow(held.id)).toMatchObject({ status: "rejected", statusReason: "Blurry and off-topic" });
    const entries = await auditFor(held.id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actorId: adminId, action: "moderation.reject", detail: { reason: "Blurry and off-topic" } });
    expect(await wholeQueue(admin)).not.toContain(`id="item-${held.id}"`);
    // A second decision on it is refused as the API refuses it (409), shown on the queue page.
    const again = await admin.submit(`/console/review/${held.id}/approve`, {});
    expect(again.status).toBe(409);
    expect(await again.text()).toContain("only an image that is pending review can be approved");
    expect(await imageRow(held.id)).toMatchObject({ status: "rejected" });
  });
});

describe("takedowns", () => {
  it("takes an approved image down with a reason and lists it among recent takedowns; refuses other states", async () => {
    const image = await insertImage({ status: "approved" });
    await admin.page("/console/takedown");
    const short = await admin.submit("/console/takedown", { imageId: image.id, reason: "x" });
    expect(short.status).toBe(422);
    expect((await imageRow(image.id))?.takenDownAt).toBeNull();
    const res = await admin.submit("/console/takedown", { imageId: image.id, reason: "Copyright claim" });
    expect(res.status, await res.clone().text()).toBe(303);
    const row = await imageRow(image.id);
    expect(row).toMatchObject({ status: "rejected", statusReason: "Copyright claim" });
    expect(row?.takenDownAt).not.toBeNull();
    const html = await admin.page("/console/takedown?done=taken-down");
    expect(html).toContain("Taken down");
    expect(html).toContain(image.id.slice(0, 8));
    const pending = await insertImage();
    const conflict = await admin.submit("/console/takedown", { imageId: pending.id, reason: "Copyright claim" });
    expect(conflict.status).toBe(409);
    expect(await imageRow(pending.id)).toMatchObject({ status: "pending_review" });
  });
});

describe("the audit log", () => {
  it("filters by target, action and actor as the API's query does, and refuses a bad filter", async () => {
    const held = await insertImage();
    await admin.page("/console/review");
    expect((await admin.submit(`/console/review/${held.id}/reject`, { reason: "Not a photograph" })).status).toBe(303);
    const byTarget = await admin.page(`/console/audit?actor=&action=&target=${held.id}`);
    expect(byTarget).toContain("moderation.reject");
    expect(byTarget).toContain("Not a photograph");
    expect(byTarget).not.toContain("moderation.approve</a>");
    const none = await admin.page(`/console/audit?action=moderation.approve&target=${held.id}`);
    expect(none).toContain("No entries.");
    const byActor = await admin.page(`/console/audit?actor=${adminId}&action=moderation.reject`);
    expect(byActor).toContain("Not a photograph");
    const bad = await admin.fetch("/console/audit?actor=not-a-uuid");
    expect(bad.status).toBe(422);
    expect(await bad.text()).toContain("must be a UUID");
  });

  it("pages with the API's cursor, keeping the filters", async () => {
    const html = await admin.page(`/console/audit?actor=${adminId}`);
    const next = /<a href="(\/console\/audit\?[^"]+)">Older entries<\/a>/.exec(html)?.[1]?.replaceAll("&amp;", "&");
    // This admin has made more than 20 audited changes only if the file ran in full; when it has, the link keeps the filter.
    if (next) {
      expect(next).toContain(`actor=${adminId}`);
      expect(next).toContain("cursor=");
      expect((await admin.fetch(next)).status).toBe(200);
    }
    expect((await admin.fetch("/console/audit?cursor=bogus")).status).toBe(422);
  });
});

describe("prices", () => {
  it("changes a default price through the form: shown in the list and audited with old and new amounts", async () => {
    await admin.page("/console/prices");
    const res = await admin.submit("/console/prices", { licenseType: "enhanced", amountCents: "12345", currency: CURRENCY, imageId: "" });
    expect(res.status, await res.clone().text()).toBe(303);
    const html = await admin.page("/console/prices?done=price");
    expect(html).toContain("Price saved");
    expect(html).toMatch(/<td>enhanced<\/td><td>xbb<\/td><td>XBB\s?123\.45<\/td>/);
    const [price] = await db
      .select()
      .from(licensePrices)
      .where(and(eq(licensePrices.currency, CURRENCY), eq(licensePrices.licenseType, "enhanced")));
    expect(price?.amountCents).toBe(12345);
    const entries = await auditFor(price?.id ?? "");
    expect(entries.at(-1)).toMatchObject({ actorId: adminId, action: "price.update", detail: { currency: CURRENCY, newAmountCents: 12345 } });
  });

  it("refuses what the API refuses, with the form, and changes nothing", async () => {
    await admin.page("/console/prices");
    for (const amountCents of ["0", "12.5", "abc", "10000001"]) {
      const res = await admin.submit("/console/prices", { licenseType: "standard", amountCents, currency: CURRENCY });
      expect(res.status, amountCents).toBe(422);
      expect(await res.text()).toContain("Check the form");
    }
    const editorial = await insertImage({ status: "approved", editorial: true });
    const res = await admin.submit("/console/prices", { licenseType: "standard", amountCents: "500", currency: CURRENCY, imageId: editorial.id });
    expect(res.status).toBe(422);
    const rows = await db
      .select()
      .from(licensePrices)
      .where(and(eq(licensePrices.currency, CURRENCY), eq(licensePrices.licenseType, "standard")));
    expect(rows).toHaveLength(0);
  });
});

describe("payout runs", () => {
  it("starts a run for a period, audited, and shows it in the history with its reconciliation report", async () => {
    await admin.page("/console/payouts");
    const empty = await admin.submit("/console/payouts/run", {});
    expect(empty.status).toBe(422);
    const res = await admin.submit("/console/payouts/run", { period: "1999-02" });
    expect(res.status, await res.clone().text()).toBe(303);
    expect(res.headers.get("location")).toBe("/console/payouts?period=1999-02&done=payout-run");
    const html = await admin.page("/console/payouts?period=1999-02&done=payout-run");
    expect(html).toContain("Payout run finished");
    expect(html).toContain('<a href="/console/payouts?period=1999-02">1999-02</a>');
    expect(html).toContain("Reconciliation report for 1999-02");
    expect(html).toContain("every payout matches");
    const entries = await db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, "payout.run"), eq(auditLog.actorId, adminId)));
    expect(entries).toHaveLength(1);
    expect(entries[0]?.targetId).toBe("1999-02");
    expect(await admin.page("/console")).toContain("1999-02");
  });

  it("lists the periods with payouts and reconciles a period's payouts against their earnings", async () => {
    const [payout] = await db
      .insert(payouts)
      .values({ contributorId, period: "1998-03", amountCents: 4321, status: "failed", failureReason: "account closed" })
      .returning({ id: payouts.id });
    const html = await admin.page("/console/payouts?period=1998-03");
    expect(html).toContain('<a href="/console/payouts?period=1998-03"');
    expect(html).toContain("Reconciliation report for 1998-03");
    expect(html).toContain("1 do not match their earnings or transfer.");
    expect(html).toContain(payout?.id.slice(0, 8));
    expect(html).toContain("failed: account closed");
    expect(html).toMatch(/mismatch: earnings \$0\.00, transfer none/);
    const bad = await admin.fetch("/console/payouts?period=1998-13");
    expect(await bad.text()).toContain("The period must be a month, YYYY-MM.");
  });
});
