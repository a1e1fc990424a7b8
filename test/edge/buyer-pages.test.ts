import { env, SELF } from "cloudflare:test";
import { and, eq } from "drizzle-orm";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { images, licensePrices, licenses, orders, subscriptionPlans } from "../../db/schema";
import { readConfig } from "../../edge/config";
import { api, signUp, testDb } from "./support";
import { Browser, signedInBrowser } from "./web-support";

/**
 * The buyer's pages driven as a browser would (test/edge/web-support.ts): add to the cart by form,
 * remove, check out to the Stripe stand-in, pay there, the webhook settles the order, the
 * confirmation shows it, the licences page downloads the original; API keys made and revoked
 * through the pages; nobody sees another buyer's order or licence.
 */

const { db, pool } = testDb();
afterAll(() => pool.end());

const config = readConfig(env);
const STANDIN = (env as Env & { STRIPE_STANDIN_URL: string }).STRIPE_STANDIN_URL;
const cryptoProvider = Stripe.createSubtleCryptoProvider();
const ORIGINAL = new TextEncoder().encode(`buyer-pages-original-${crypto.randomUUID()}`);

type StandinEvent = { id: string; type: string; payload: string };

/** Plays the customer on the stand-in: pays the session, and returns the events Stripe would send. */
async function pay(sessionId: string): Promise<StandinEvent[]> {
  const res = await fetch(`${STANDIN}/checkout/${sessionId}/complete`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ outcome: "paid" }),
  });
  if (!res.ok) throw new Error(`stand-in: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { events: StandinEvent[] }).events;
}

/** Delivers an event to the webhook route, signed as Stripe signs it. */
async function deliver(event: StandinEvent) {
  const signature = await Stripe.webhooks.generateTestHeaderStringAsync({ payload: event.payload, secret: config.STRIPE_WEBHOOK_SECRET, cryptoProvider });
  const res = await api("/v1/webhooks/stripe", { method: "POST", body: event.payload, headers: { "content-type": "application/json", "stripe-signature": signature } });
  expect(res.status, await res.clone().text()).toBe(200);
}

let contributorId: string;

/** An approved image with an original in R2 and its own prices. */
async function approvedImage(title: string, standardCents = 1299): Promise<string> {
  const id = crypto.randomUUID();
  const originalKey = `originals/${contributorId}/${id}.jpg`;
  await env.ORIGINALS.put(originalKey, ORIGINAL, { httpMetadata: { contentType: "image/jpeg" } });
  await db.insert(images).values({ id, contributorId, title, status: "approved", stage: "done", originalKey, format: "jpeg", width: 100, height: 80, publishedAt: new Date() });
  await db.insert(licensePrices).values([
    { imageId: id, licenseType: "standard", amountCents: standardCents },
    { imageId: id, licenseType: "enhanced", amountCents: 6999 },
  ]);
  return id;
}

const location = (res: Response) => res.headers.get("location") ?? "";

beforeAll(async () => {
  contributorId = (await signUp("contributor")).userId;
});

describe("cart pages", () => {
  it("adds by form, shows the items with prices and total, removes, and refuses bad input with nothing changed", async () => {
    const { browser } = await signedInBrowser("buyer");
    const tag = crypto.randomUUID().slice(0, 6);
    const [a, b] = [await approvedImage(`Lighthouse ${tag}`, 1299), await approvedImage(`Dunes ${tag}`, 2500)];

    expect(await browser.page("/cart")).toContain("Your cart is empty");
    for (const [imageId, licenseType] of [
      [a, "standard"],
      [b, "enhanced"],
    ] as const) {
      const res = await browser.submit("/cart/items", { imageId, licenseType });
      expect(res.status).toBe(303);
      expect(location(res)).toBe("/cart");
    }
    // Adding again is harmless (the service's add is idempotent).
    expect((await browser.submit("/cart/items", { imageId: a, licenseType: "standard" })).status).toBe(303);

    let html = await browser.page("/cart");
    expect(html).toContain(`href="/images/${a}"`);
    expect(html).toContain(`Lighthouse ${tag}`);
    expect(html).toContain("$12.99");
    expect(html).toContain("$69.99");
    expect(html).toContain("$82.98");
    expect(html).toContain('action="/checkout"');

    // Bad input: a clear 4xx page, and the cart unchanged.
    const badType = await browser.submit("/cart/items", { imageId: a, licenseType: "forever" });
    expect(badType.status).toBe(422);
    expect(await badType.text()).toContain("licenseType");
    expect((await browser.submit("/cart/items", { imageId: "not-an-id", licenseType: "standard" })).status).toBe(422);
    expect((await browser.submit("/cart/items", { imageId: crypto.randomUUID(), licenseType: "standard" })).status).toBe(404);
    expect((await browser.submit("/cart/items", {})).status).toBe(422);

    const removed = await browser.submit("/cart/remove", { imageId: b, licenseType: "enhanced" });
    expect(removed.status).toBe(303);
    html = await browser.page("/cart");
    expect(html).not.toContain(`Dunes ${tag}`);
    expect(html).toContain(`Lighthouse ${tag}`);
    expect((await browser.submit("/cart/remove", { imageId: b, licenseType: "enhanced" })).status).toBe(404);
  });

  it("sends an anonymous visitor to sign in and keeps other roles out of buying", async () => {
    const anonymous = new Browser();
    const cart = await anonymous.fetch("/cart");
    expect(cart.status).toBe(303);
    expect(location(cart)).toBe("/login?next=%2Fcart");
    expect((await anonymous.submit("/cart/items", { imageId: crypto.randomUUID(), licenseType: "standard" })).status).toBe(401);

    const { browser } = await signedInBrowser("contributor");
    expect(await browser.page("/cart")).toContain("buyer account");
    expect((await browser.submit("/cart/items", { imageId: crypto.randomUUID(), licenseType: "standard" })).status).toBe(403);
    expect((await browser.submit("/checkout", {})).status).toBe(403);
  });

  it("says on the cart page why an empty cart cannot be checked out", async () => {
    const { browser } = await signedInBrowser("buyer");
    const res = await browser.submit("/checkout", {}, "/cart");
    expect(res.status).toBe(422);
    expect(await res.text()).toContain("the cart is empty");
  });
  it("names on the cart page an item checkout refuses because the buyer came to hold it meanwhile", async () => {
    const { account, browser } = await signedInBrowser("buyer");
    const imageId = await approvedImage(`Pier ${crypto.randomUUID().slice(0, 6)}`);
    await browser.submit("/cart/items", { imageId, licenseType: "standard" });
    // Licensed another way (a subscription credit) while it waited in the cart.
    await db.insert(licenses).values({ buyerId: account.userId, imageId, licenseType: "standard", priceCents: 0 });
    const res = await browser.submit("/checkout", {}, "/cart");
    expect(res.status).toBe(409);
    const html = await res.text();
    expect(html).toContain("Checkout did not start");
    expect(html).toContain("Cannot check out: you already hold this licence");
  });
});

describe("checkout, confirmation, licences and orders", () => {
  it("checks out to the stand-in, confirms once the webhook settles, lists the licence and downloads the original", async () => {
    const { account, browser } = await signedInBrowser("buyer");
    const title = `Harbour lights ${crypto.randomUUID().slice(0, 6)}`;
    const imageId = await approvedImage(title, 1500);
    await browser.submit("/cart/items", { imageId, licenseType: "standard" });

    const started = await browser.submit("/checkout", {}, "/cart");
    expect(started.status).toBe(303);
    expect(location(started).startsWith(STANDIN)).toBe(true);
    const [order] = await db
      .select()
      .from(orders)
      .where(and(eq(orders.buyerId, account.userId), eq(orders.status, "pending")));
    const sessionId = order?.stripeCheckoutSessionId;
    if (!order || !sessionId) throw new Error("no pending order with a session");
    expect(order.totalCents).toBe(1500);
    // Checking out the unchanged cart again goes to the same session.
    expect(location(await browser.submit("/checkout", {}))).toBe(location(started));

    // Back from paying before the webhook: the confirmation waits, refreshing itself.
    const success = `/checkout/order/success?session_id=${sessionId}`;
    let html = await browser.page(success);
    expect(html).toContain("Confirming payment");
    expect(html).toContain('http-equiv="refresh"');

    for (const event of await pay(sessionId)) await deliver(event);
    html = await browser.page(success);
    expect(html).not.toContain('http-equiv="refresh"');
    expect(html).toContain("your order is paid");
    expect(html).toContain(title);
    expect(html).toContain("$15.00");
    expect(html).toContain('href="/account/licenses');

    // The cart was emptied by the settlement.
    expect(await browser.page("/cart")).toContain("Your cart is empty");

    const [license] = await db.select().from(licenses).where(eq(licenses.buyerId, account.userId));
    if (!license) throw new Error("no licence issued");
    html = await browser.page("/account/licenses");
    expect(html).toContain(title);
    expect(html).toContain(`href="/v1/licenses/${license.id}/certificate"`);
    expect(html).toContain(`action="/account/licenses/${license.id}/download"`);

    // The certificate link works with the web session.
    const certificate = await browser.fetch(`/v1/licenses/${license.id}/certificate`);
    expect(certificate.status).toBe(200);
    expect(await certificate.text()).toContain(title);

    const download = await browser.submit(`/account/licenses/${license.id}/download`, {});
    expect(download.status).toBe(303);
    const file = await SELF.fetch(location(download));
    expect(file.status).toBe(200);
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(ORIGINAL);
    expect(file.headers.get("content-disposition")).toMatch(/^attachment; filename="harbour-lights-/);

    html = await browser.page("/account/orders");
    expect(html).toContain(`href="/account/orders/${order.id}"`);
    expect(html).toContain("Paid");
    expect(html).toContain("$15.00");
    expect(await browser.page(`/account/orders/${order.id}`)).toContain(title);

    // Another buyer sees none of it, and cannot download with the licence id.
    const { browser: other } = await signedInBrowser("buyer");
    expect(await other.page("/account/licenses")).not.toContain(title);
    expect((await other.fetch(`/account/orders/${order.id}`)).status).toBe(404);
    expect((await other.fetch(success)).status).toBe(404);
    expect((await other.submit(`/account/licenses/${license.id}/download`, {}, "/account/licenses")).status).toBe(404);
    expect((await other.fetch(`/v1/licenses/${license.id}/certificate`)).status).toBe(404);

    // A refunded (revoked) licence says why and offers no download; the download is refused.
    await db.update(licenses).set({ revokedAt: new Date(), revokedReason: "refund" }).where(eq(licenses.id, license.id));
    html = await browser.page("/account/licenses");
    expect(html).toContain("Revoked on");
    expect(html).not.toContain(`action="/account/licenses/${license.id}/download"`);
    expect((await browser.submit(`/account/licenses/${license.id}/download`, {})).status).toBe(403);
  });

  it("says a licence for a taken-down image no longer downloads", async () => {
    const { account, browser } = await signedInBrowser("buyer");
    const title = `Old mill ${crypto.randomUUID().slice(0, 6)}`;
    const imageId = await approvedImage(title);
    const [license] = await db.insert(licenses).values({ buyerId: account.userId, imageId, licenseType: "standard", priceCents: 1299 }).returning();
    await db.update(images).set({ takenDownAt: new Date(), status: "rejected" }).where(eq(images.id, imageId));
    const html = await browser.page("/account/licenses");
    expect(html).toContain(title);
    expect(html).toContain("taken down");
    expect(html).not.toContain(`action="/account/licenses/${license?.id}/download"`);
    expect((await browser.submit(`/account/licenses/${license?.id}/download`, {})).status).toBe(410);
  });

  it("shows the canceled page, and subscribes through the plans page to credits", async () => {
    const { browser } = await signedInBrowser("buyer");
    const canceled = await browser.page("/checkout/order/canceled");
    expect(canceled).toContain("Nothing was charged");
    expect(canceled).toContain('href="/cart"');

    const planId = `pages-${crypto.randomUUID().slice(0, 8)}`;
    await db.insert(subscriptionPlans).values({ id: planId, name: `Pages plan ${planId}`, monthlyCredits: 7, priceCents: 2900 });
    const plans = await browser.page("/account/subscription");
    expect(plans).toContain("No subscription");
    expect(plans).toContain(`name="planId" value="${planId}"`);
    const started = await browser.submit("/account/subscription", { planId });
    expect(started.status).toBe(303);
    expect(location(started).startsWith(STANDIN)).toBe(true);
    const sessionId = /\/checkout\/([^/?]+)/.exec(location(started))?.[1];
    if (!sessionId) throw new Error(`no session id in ${location(started)}`);

    const success = `/checkout/subscription/success?session_id=${sessionId}`;
    expect(await browser.page(success)).toContain("Confirming subscription");
    for (const event of await pay(sessionId)) await deliver(event);
    expect(await browser.page(success)).toContain(`Welcome to Pages plan ${planId}`);
    const mine = await browser.page("/account/subscription");
    expect(mine).toContain("<strong>7</strong> of 7 download credits left");
    expect(mine).not.toContain('name="planId"');
    // A second plan while one is live is refused, as the API refuses it.
    expect((await browser.submit("/account/subscription", { planId })).status).toBe(409);
    expect((await browser.submit("/account/subscription", { planId: "no-such-plan" })).status).toBe(404);
    expect(await browser.page("/account")).toContain('href="/account/licenses"');
  });
});

describe("API key pages", () => {
  it("creates a key showing its secret once, lists it, and revokes it", async () => {
    const { browser } = await signedInBrowser("buyer");
    await browser.page("/account/api-keys");
    const form = new URLSearchParams([
      ["_csrf", browser.csrf],
      ["name", "Build server"],
      ["scopes", "licenses:read"],
      ["scopes", "downloads:create"],
    ]);
    const created = await browser.fetch("/account/api-keys", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form.toString() });
    expect(created.status).toBe(201);
    const html = await created.text();
    const secret = /value="(esk_[^"]+)"/.exec(html)?.[1];
    if (!secret) throw new Error("no secret on the result page");
    expect(html).toContain("downloads:create, licenses:read");
    expect((await api("/v1/licenses", { apiKey: secret })).status).toBe(200);

    const listed = await browser.page("/account/api-keys");
    expect(listed).not.toContain(secret);
    const keyId = /action="\/account\/api-keys\/([0-9a-f-]{36})\/revoke"/.exec(listed)?.[1];
    if (!keyId) throw new Error("no revoke form");

    // Someone else cannot revoke it.
    const { browser: other } = await signedInBrowser("buyer");
    expect((await other.submit(`/account/api-keys/${keyId}/revoke`, {}, "/account/api-keys")).status).toBe(404);

    const revoked = await browser.submit(`/account/api-keys/${keyId}/revoke`, {});
    expect(revoked.status).toBe(303);
    expect(await browser.page("/account/api-keys")).toContain("Revoked");
    expect((await api("/v1/licenses", { apiKey: secret })).status).toBe(401);

    // No scope: the form says what is wrong, nothing is made.
    const refused = await browser.submit("/account/api-keys", { name: "Nothing" });
    expect(refused.status).toBe(422);
    expect(await refused.text()).toContain("at least one scope");
  });
});
