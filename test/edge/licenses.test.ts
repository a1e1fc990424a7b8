import { env } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { images, licenses, orderItems, orders, users } from "../../db/schema";
import { readConfig } from "../../edge/config";
import { LICENSE_TERMS } from "../../edge/data/license-terms";
import type { LicensePage, LicenseView } from "../../edge/services/commerce/licenses";
import { api, expectProblem, signUp, testDb } from "./support";

/** A buyer's licenses and certificates, on license rows written straight to the database. */

const { db, pool } = testDb();
afterAll(() => pool.end());

const DERIVATIVES = readConfig(env).DERIVATIVES_PUBLIC_URL.replace(/\/+$/, "");
const HOSTILE_TITLE = `<script>alert("pwned")</script> & 'quotes'`;
const HOSTILE_NAME = `<img src=x onerror=alert(1)>`;

type License = LicenseView;
type Page = LicensePage;

/** What hono's html helper writes for a piece of text. */
const escaped = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;").replaceAll("'", "&#39;");

let buyer: Awaited<ReturnType<typeof signUp>>;
let other: Awaited<ReturnType<typeof signUp>>;
const image: Record<string, string> = {};
const license: Record<string, string> = {};
let orderId: string;
const contributorName = `Studio ${crypto.randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  [buyer, other] = await Promise.all([signUp("buyer"), signUp("buyer")]);
  await db.update(users).set({ displayName: HOSTILE_NAME }).where(eq(users.id, buyer.userId));
  const [contributor] = await db
    .insert(users)
    .values({ email: `licenses-contributor-${crypto.randomUUID()}@example.test`, passwordHash: "unused", role: "contributor", displayName: contributorName })
    .returning({ id: users.id });
  if (!contributor) throw new Error("no contributor");
  const insertImage = async (title: string, values: Partial<typeof images.$inferInsert> = {}) => {
    const [row] = await db
      .insert(images)
      .values({ contributorId: contributor.id, title, status: "approved", stage: "done", ...values })
      .returning({ id: images.id });
    if (!row) throw new Error("insert failed");
    return row.id;
  };
  image.harbour = await insertImage("Harbour at dawn", { derivativeKeys: { thumb450: "images/h/thumb-450.webp" } });
  image.hostile = await insertImage(HOSTILE_TITLE);
  image.protest = await insertImage("Protest on the square", { editorial: true });

  const [order] = await db
    .insert(orders)
    .values({ buyerId: buyer.userId, status: "paid", totalCents: 1200 + 9900, paidAt: new Date() })
    .returning({ id: orders.id });
  if (!order) throw new Error("no order");
  orderId = order.id;
  const items = await db
    .insert(orderItems)
    .values([
      { orderId, imageId: image.harbour, licenseType: "standard", priceCents: 1200 },
      { orderId, imageId: image.hostile, licenseType: "enhanced", priceCents: 9900 },
    ])
    .returning({ id: orderItems.id, imageId: orderItems.imageId });
  const itemFor = (imageId: string) => items.find((item) => item.imageId === imageId)?.id;

  // Issued a minute apart, oldest first; names say what each is.
  const base = Date.now() - 60 * 60_000;
  const rows: (typeof licenses.$inferInsert & { name: string })[] = [
    { name: "harbourStandard", buyerId: buyer.userId, imageId: image.harbour, licenseType: "standard", priceCents: 1200, orderItemId: itemFor(image.harbour) },
    { name: "hostileEnhanced", buyerId: buyer.userId, imageId: image.hostile, licenseType: "enhanced", priceCents: 9900, orderItemId: itemFor(image.hostile) },
    { name: "protestSubscription", buyerId: buyer.userId, imageId: image.protest, licenseType: "editorial", priceCents: 0 },
    {
      name: "harbourRevoked",
      buyerId: buyer.userId,
      imageId: image.harbour,
      licenseType: "enhanced",
      priceCents: 4000,
      revokedAt: new Date(base + 30 * 60_000),
      revokedReason: "refund",
    },
    {
      name: "hostileRevoked",
      buyerId: buyer.userId,
      imageId: image.hostile,
      licenseType: "standard",
      priceCents: 1000,
      revokedAt: new Date(base + 40 * 60_000),
      revokedReason: `dispute <b>fraudulent</b>`,
    },
    { name: "harbourSubscription", buyerId: buyer.userId, imageId: image.harbour, licenseType: "standard", priceCents: 0 },
    { name: "othersHarbour", buyerId: other.userId, imageId: image.harbour, licenseType: "standard", priceCents: 1200 },
  ];
  for (const [i, { name, ...row }] of rows.entries()) {
    const [inserted] = await db
      .insert(licenses)
      .values({ ...row, issuedAt: new Date(base + i * 60_000) })
      .returning({ id: licenses.id });
    if (!inserted) throw new Error("insert failed");
    license[name] = inserted.id;
  }
});

const mine = ["harbourSubscription", "hostileRevoked", "harbourRevoked", "protestSubscription", "hostileEnhanced", "harbourStandard"];
const namesOf = (items: License[]) => items.map((item) => Object.keys(license).find((name) => license[name] === item.id));

async function list(query: string, token = buyer.accessToken): Promise<Page> {
  const res = await api(`/v1/licenses${query}`, { token });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Page;
}

describe("GET /v1/licenses", () => {
  it("lists the buyer's licenses newest first with terms, source, order and links", async () => {
    const page = await list("");
    expect(namesOf(page.items)).toEqual(mine);
    expect(page.nextCursor).toBeNull();
    const first = page.items.find((item) => item.id === license.harbourStandard);
    expect(first).toEqual({
      id: license.harbourStandard,
      imageId: image.harbour,
      imageTitle: "Harbour at dawn",
      thumbnailUrl: `${DERIVATIVES}/images/h/thumb-450.webp`,
      licenseType: "standard",
      terms: LICENSE_TERMS.standard,
      priceCents: 1200,
      currency: "usd",
      source: "order",
      orderId,
      issuedAt: expect.any(String),
      revokedAt: null,
      revokedReason: null,
      certificateUrl: `/v1/licenses/${license.harbourStandard}/certificate`,
      downloadUrl: `/v1/images/${image.harbour}/download?license=${license.harbourStandard}`,
    });
    const subscription = page.items.find((item) => item.id === license.protestSubscription);
    expect(subscription).toMatchObject({ source: "subscription", orderId: null, priceCents: 0, thumbnailUrl: null, terms: LICENSE_TERMS.editorial });
    const revoked = page.items.find((item) => item.id === license.harbourRevoked);
    expect(revoked).toMatchObject({ revokedReason: "refund", revokedAt: expect.stringMatching(/^\d{4}-/) });
  });

  it("filters by status and by image", async () => {
    expect(namesOf((await list("?status=active")).items)).toEqual(["harbourSubscription", "protestSubscription", "hostileEnhanced", "harbourStandard"]);
    expect(namesOf((await list("?status=revoked")).items)).toEqual(["hostileRevoked", "harbourRevoked"]);
    expect(namesOf((await list(`?imageId=${image.harbour}`)).items)).toEqual(["harbourSubscription", "harbourRevoked", "harbourStandard"]);
    expect(namesOf((await list(`?imageId=${image.harbour}&status=active`)).items)).toEqual(["harbourSubscription", "harbourStandard"]);
    expect((await list(`?imageId=${crypto.randomUUID()}`)).items).toEqual([]);
  });

  it("pages through every license once, in order, without duplicates or gaps", async () => {
    const seen: License[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await list(`?limit=4${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(pages).toBe(2);
    expect(namesOf(seen)).toEqual(mine);

    const filtered: License[] = [];
    const firstPage = await list("?status=active&limit=3");
    filtered.push(...firstPage.items);
    expect(firstPage.nextCursor).not.toBeNull();
    const secondPage = await list(`?status=active&limit=3&cursor=${firstPage.nextCursor}`);
    filtered.push(...secondPage.items);
    expect(secondPage.nextCursor).toBeNull();
    expect(namesOf(filtered)).toEqual(["harbourSubscription", "protestSubscription", "hostileEnhanced", "harbourStandard"]);
  });

  it("never shows another buyer's licenses", async () => {
    expect(namesOf((await list("", other.accessToken)).items)).toEqual(["othersHarbour"]);
  });
});

describe("GET /v1/licenses/:id", () => {
  it("answers the owner with the license", async () => {
    const res = await api(`/v1/licenses/${license.hostileEnhanced}`, { token: buyer.accessToken });
    expect(res.status).toBe(200);
    expect((await res.json()) as License).toMatchObject({ id: license.hostileEnhanced, imageTitle: HOSTILE_TITLE, terms: LICENSE_TERMS.enhanced, orderId, source: "order" });
  });

  it("answers 404, not 403, for someone else's license and an unknown id", async () => {
    for (const id of [license.othersHarbour, crypto.randomUUID()]) {
      await expectProblem(await api(`/v1/licenses/${id}`, { token: buyer.accessToken }), 404, "not-found");
      await expectProblem(await api(`/v1/licenses/${id}/certificate`, { token: buyer.accessToken }), 404, "not-found");
    }
  });

  it("is for buyers only", async () => {
    const contributor = await signUp("contributor");
    await expectProblem(await api("/v1/licenses", { token: contributor.accessToken }), 403, "forbidden");
    await expectProblem(await api(`/v1/licenses/${license.harbourStandard}`, { token: contributor.accessToken }), 403, "forbidden");
  });
});

describe("GET /v1/licenses/:id/certificate", () => {
  async function certificate(id: string | undefined) {
    const res = await api(`/v1/licenses/${id}/certificate`, { token: buyer.accessToken });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe(`inline; filename="edgestock-license-${id}.html"`);
    return res.text();
  }

  it("states the licensee, image, contributor, price, order and the full terms", async () => {
    const html = await certificate(license.harbourStandard);
    expect(html).toMatch(/^<!doctype html>/);
    for (const fact of [buyer.email, contributorName, "Harbour at dawn", image.harbour, license.harbourStandard, orderId, "$12.00", "Active"]) {
      expect(html).toContain(fact);
    }
    const terms = LICENSE_TERMS.standard;
    for (const text of [terms.name, terms.summary, ...terms.permittedUses, ...terms.prohibitedUses, "Up to 500,000 copies"]) {
      expect(html).toContain(escaped(text));
    }
    expect(html).not.toContain("REVOKED");
  });

  it("escapes every interpolated value: a hostile title, name and revocation reason stay text", async () => {
    const html = await certificate(license.hostileRevoked);
    expect(html).toContain(escaped(HOSTILE_TITLE));
    expect(html).toContain(escaped(HOSTILE_NAME));
    expect(html).toContain(escaped("dispute <b>fraudulent</b>"));
    expect(html).not.toContain("<script>");
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<b>fraudulent");
  });

  it("shows a revoked license as REVOKED with the reason and date", async () => {
    const html = await certificate(license.harbourRevoked);
    const [row] = await db
      .select({ revokedAt: licenses.revokedAt })
      .from(licenses)
      .where(eq(licenses.id, license.harbourRevoked as string));
    expect(html).toContain("REVOKED");
    expect(html).toContain("Reason: refund");
    expect(html).toContain(row?.revokedAt?.toISOString());
    expect(html).toContain(escaped(LICENSE_TERMS.enhanced.summary));
  });

  it("prints a subscription download without an order", async () => {
    const html = await certificate(license.protestSubscription);
    expect(html).toContain("None (subscription download)");
    expect(html).toContain(escaped(LICENSE_TERMS.editorial.name));
    expect(html).toContain("Not permitted");
  });
});
