import { env, SELF } from "cloudflare:test";
import { and, eq, inArray, sql } from "drizzle-orm";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cartItems,
  carts,
  contributorEarnings,
  downloadCredits,
  downloadEvents,
  images,
  licensePrices,
  licenses,
  orderItems,
  orders,
  payouts,
  processedWebhookEvents,
  subscriptionPlans,
  subscriptions,
  users,
} from "../../db/schema";
import { readConfig } from "../../edge/config";
import { api, expectProblem, signUp, testDb } from "./support";

/**
 * Commerce end to end inside workerd: checkout through the Stripe stand-in (the SDK pointed at it
 * by host and port), events signed with Stripe's own test-header helper and sent through the real
 * webhook route, licenses, signed downloads through the local S3 stand-in, refunds, disputes,
 * subscriptions and credits, Connect onboarding and the payout run.
 */

const { db, pool } = testDb();
afterAll(() => pool.end());

const bindings = env as Env & { STRIPE_STANDIN_URL: string };
const config = readConfig(env);
const STANDIN = bindings.STRIPE_STANDIN_URL;
const standinUrl = new URL(STANDIN);
const stripe = new Stripe(config.STRIPE_SECRET_KEY, {
  host: standinUrl.hostname,
  port: Number(standinUrl.port),
  protocol: "http",
  httpClient: Stripe.createFetchHttpClient(),
});
const cryptoProvider = Stripe.createSubtleCryptoProvider();

type StandinEvent = { id: string; type: string; payload: string; signature: string };

/** The one row a query must return. */
function one<T>(rows: T[]): T {
  if (rows.length !== 1) throw new Error(`expected one row, got ${rows.length}`);
  return rows[0] as T;
}

/** Item `i` of a list that must have it. */
function nth<T>(items: T[], i: number): T {
  if (i >= items.length) throw new Error(`expected at least ${i + 1} items, got ${items.length}`);
  return items[i] as T;
}

/** Plays the customer on the stand-in (pays a session, onboards an account...) and returns the events it generated. */
async function control(path: string, body: Record<string, unknown> = {}): Promise<StandinEvent[]> {
  const res = await fetch(`${STANDIN}${path}`, { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`stand-in ${path}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { events: StandinEvent[] }).events;
}

/** Signs a payload the way Stripe does, with Stripe's own helper. */
async function sign(payload: string, secret = config.STRIPE_WEBHOOK_SECRET) {
  return Stripe.webhooks.generateTestHeaderStringAsync({ payload, secret, cryptoProvider });
}

/** Delivers an event to the webhook route, freshly signed. */
async function deliver(event: StandinEvent | { payload: string }) {
  const res = await api("/v1/webhooks/stripe", {
    method: "POST",
    body: event.payload,
    headers: { "content-type": "application/json", "stripe-signature": await sign(event.payload) },
  });
  const body = (await res.json()) as { duplicate: boolean; outcome: string; type: string };
  if (res.status !== 200) throw new Error(`webhook ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/** The latest stored event of a type on the stand-in for an object (refunds, which the API emits). */
async function latestEvent(type: string, objectId: string): Promise<StandinEvent> {
  const list = await stripe.events.list({ type, limit: 100 });
  const event = list.data.find((e) => (e.data.object as { id: string }).id === objectId);
  if (!event) throw new Error(`no ${type} event for ${objectId}`);
  return { id: event.id, type: event.type, payload: JSON.stringify(event), signature: "" };
}

let contributor: Awaited<ReturnType<typeof signUp>>;
const ORIGINAL = new TextEncoder().encode(`original-bytes-${crypto.randomUUID()}`);

/** An approved image with an original in R2 and its own prices (so no other test file's price changes matter). */
async function approvedImage(options: { editorial?: boolean; standardCents?: number } = {}): Promise<string> {
  const id = crypto.randomUUID();
  const originalKey = `originals/${contributor.userId}/${id}.jpg`;
  await env.ORIGINALS.put(originalKey, ORIGINAL, { httpMetadata: { contentType: "image/jpeg" } });
  await db.insert(images).values({
    id,
    contributorId: contributor.userId,
    title: `Harbour at dawn ${id.slice(0, 6)}`,
    status: "approved",
    stage: "done",
    editorial: options.editorial ?? false,
    originalKey,
    format: "jpeg",
    width: 100,
    height: 80,
    publishedAt: new Date(),
  });
  await db.insert(licensePrices).values([
    { imageId: id, licenseType: "standard", amountCents: options.standardCents ?? 1299 },
    { imageId: id, licenseType: "enhanced", amountCents: 6999 },
    { imageId: id, licenseType: "editorial", amountCents: 999 },
  ]);
  return id;
}

async function fillCart(buyerId: string, items: { imageId: string; licenseType: "standard" | "enhanced" | "editorial" }[]) {
  const cart = one(
    await db
      .insert(carts)
      .values({ buyerId })
      .onConflictDoUpdate({ target: carts.buyerId, set: { updatedAt: new Date() } })
      .returning(),
  );
  await db.insert(cartItems).values(items.map((item) => ({ cartId: cart.id, ...item })));
}

/** Buyer checks out the cart and pays on the stand-in; returns the order id, session and the events. */
async function buy(buyer: { accessToken: string; userId: string }, items: { imageId: string; licenseType: "standard" | "enhanced" | "editorial" }[], outcome = "paid") {
  await fillCart(buyer.userId, items);
  const res = await api("/v1/checkout", { method: "POST", token: buyer.accessToken, json: {} });
  expect(res.status).toBe(201);
  const started = (await res.json()) as { orderId: string; sessionId: string; checkoutUrl: string; totalCents: number };
  const events = await control(`/checkout/${started.sessionId}/complete`, { outcome });
  return { ...started, events };
}

async function download(token: string, imageId: string, license: string) {
  return api(`/v1/images/${imageId}/download?license=${license}`, { token });
}

beforeAll(async () => {
  contributor = await signUp("contributor");
});

describe("buying: checkout → webhook → license → download", () => {
  it("issues one license per item, records earnings that add up, and serves the original through a 5-minute signed URL", async () => {
    const buyer = await signUp("buyer");
    const [a, b] = [await approvedImage({ standardCents: 1299 }), await approvedImage({ standardCents: 999 })];
    const { orderId, totalCents, checkoutUrl, events } = await buy(buyer, [
      { imageId: a, licenseType: "standard" },
      { imageId: b, licenseType: "enhanced" },
    ]);
    expect(totalCents).toBe(1299 + 6999);
    expect(checkoutUrl.startsWith(STANDIN)).toBe(true);

    // Before the webhook nothing is granted.
    await expectProblem(await download(buyer.accessToken, a, "standard"), 403, "license-required");

    expect(events.map((e) => e.type)).toEqual(["checkout.session.completed"]);
    expect(await deliver(nth(events, 0))).toMatchObject({ duplicate: false, outcome: "paid" });

    const order = one(await db.select().from(orders).where(eq(orders.id, orderId)));
    expect(order.status).toBe("paid");
    const issued = await db.select().from(licenses).where(eq(licenses.buyerId, buyer.userId));
    expect(issued.map((l) => `${l.imageId}:${l.licenseType}:${l.priceCents}`).sort()).toEqual([`${a}:standard:1299`, `${b}:enhanced:6999`].sort());
    expect(issued.reduce((sum, l) => sum + l.priceCents, 0)).toBe(order.totalCents);

    // Earnings: the standard tier's 25 %, rounded down; shares plus the platform's cut equal what was paid.
    const earned = await db
      .select()
      .from(contributorEarnings)
      .where(
        inArray(
          contributorEarnings.licenseId,
          issued.map((l) => l.id),
        ),
      );
    expect(earned.map((e) => e.amountCents).sort((x, y) => x - y)).toEqual([324, 1749]);
    for (const e of earned) {
      expect(e.status).toBe("pending");
      expect(Number.isInteger(e.amountCents)).toBe(true);
      expect(e.amountCents + (e.grossCents - e.amountCents)).toBe(e.grossCents);
      expect(e.availableAt!.getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    }

    // The cart is emptied of what was bought.
    const left = await db.select().from(cartItems).innerJoin(carts, eq(carts.id, cartItems.cartId)).where(eq(carts.buyerId, buyer.userId));
    expect(left).toHaveLength(0);

    const res = await download(buyer.accessToken, a, "standard");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const ticket = (await res.json()) as { url: string; expiresAt: string; licenseId: string; usedCredit: boolean };
    expect(ticket.usedCredit).toBe(false);
    const ttl = new Date(ticket.expiresAt).getTime() - Date.now();
    expect(ttl).toBeGreaterThan(290_000);
    expect(ttl).toBeLessThanOrEqual(300_000);
    const file = await SELF.fetch(ticket.url);
    expect(file.status).toBe(200);
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(ORIGINAL);
    expect(file.headers.get("content-disposition")).toMatch(/^attachment; filename="harbour-at-dawn-.*\.jpg"$/);

    // Re-downloads are allowed, by license id too, and each is recorded.
    expect((await download(buyer.accessToken, a, ticket.licenseId)).status).toBe(200);
    const recorded = await db.select().from(downloadEvents).where(eq(downloadEvents.licenseId, ticket.licenseId));
    expect(recorded).toHaveLength(2);
    // Popularity counts one buyer's downloads of one license once a day, however many they make.
    for (let i = 0; i < 5; i++) expect((await download(buyer.accessToken, a, "standard")).status).toBe(200);
    expect(await db.select().from(downloadEvents).where(eq(downloadEvents.licenseId, ticket.licenseId))).toHaveLength(7);
    const image = one(await db.select({ downloads: images.downloadCount, sales: images.saleCount }).from(images).where(eq(images.id, a)));
    expect(image).toEqual({ downloads: 1, sales: 1 });
  });

  it("refuses tampered URLs, other buyers, other buyers' license ids, and licenses for another type", async () => {
    const buyer = await signUp("buyer");
    const other = await signUp("buyer");
    const [a, b] = [await approvedImage(), await approvedImage()];
    const { events } = await buy(buyer, [{ imageId: a, licenseType: "standard" }]);
    await deliver(nth(events, 0));
    const ticket = (await (await download(buyer.accessToken, a, "standard")).json()) as { url: string; licenseId: string };

    // Point the signed URL at another image's original: the signature no longer matches.
    const bRow = one(await db.select({ key: images.originalKey }).from(images).where(eq(images.id, b)));
    const tampered = ticket.url.replace(/originals\/[^?]+/, bRow.key!);
    expect((await SELF.fetch(tampered)).status).toBe(403);
    const badSignature = ticket.url.replace(/X-Amz-Signature=([0-9a-f])/, (_m, c) => `X-Amz-Signature=${c === "0" ? "1" : "0"}`);
    expect((await SELF.fetch(badSignature)).status).toBe(403);
    // Without a signature the private bucket is not reachable at all.
    expect((await SELF.fetch(ticket.url.replace(/\?.*$/, ""))).status).toBe(403);

    await expectProblem(await download(other.accessToken, a, "standard"), 403, "license-required");
    await expectProblem(await download(other.accessToken, a, ticket.licenseId), 404, "not-found");
    await expectProblem(await download(buyer.accessToken, b, ticket.licenseId), 404, "not-found");
    await expectProblem(await download(buyer.accessToken, a, "enhanced"), 403, "license-required");
    await expectProblem(await api(`/v1/images/${a}/download?license=standard`), 401, "unauthenticated");
  });

  it("stops handing out the original of a taken-down image, while the license stays on record", async () => {
    const buyer = await signUp("buyer");
    const image = await approvedImage();
    const { events } = await buy(buyer, [{ imageId: image, licenseType: "standard" }]);
    await deliver(nth(events, 0));
    expect((await download(buyer.accessToken, image, "standard")).status).toBe(200);
    const admin = await signUp("admin");
    const takedown = await api(`/v1/admin/images/${image}/takedown`, { method: "POST", token: admin.accessToken, json: { reason: "Copyright claim" } });
    expect(takedown.status).toBe(200);
    await expectProblem(await download(buyer.accessToken, image, "standard"), 410, "image-unavailable");
    expect(one(await db.select().from(licenses).where(eq(licenses.buyerId, buyer.userId))).revokedAt).toBeNull();
  });

  it("sells editorial images only under the editorial license, and refuses what cannot be bought at checkout", async () => {
    const buyer = await signUp("buyer");
    const editorial = await approvedImage({ editorial: true });
    await fillCart(buyer.userId, [{ imageId: editorial, licenseType: "standard" }]);
    const res = await api("/v1/checkout", { method: "POST", token: buyer.accessToken, json: {} });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { items: unknown[] }).items).toEqual([{ imageId: editorial, licenseType: "standard", reason: "editorial-only" }]);
    expect(await db.select().from(orders).where(eq(orders.buyerId, buyer.userId))).toHaveLength(0);
    await expectProblem(await download(buyer.accessToken, editorial, "standard"), 422, "validation-failed");

    const empty = await signUp("buyer");
    await expectProblem(await api("/v1/checkout", { method: "POST", token: empty.accessToken, json: {} }), 422, "validation-failed");
    // A refused checkout writes nothing, not even a Stripe customer.
    for (const refused of [buyer, empty]) expect(one(await db.select({ customer: users.stripeCustomerId }).from(users).where(eq(users.id, refused.userId))).customer).toBeNull();
  });

  it("answers a retried checkout with the same order and session (Idempotency-Key)", async () => {
    const buyer = await signUp("buyer");
    await fillCart(buyer.userId, [{ imageId: await approvedImage(), licenseType: "standard" }]);
    const key = crypto.randomUUID();
    const first = await api("/v1/checkout", { method: "POST", token: buyer.accessToken, json: {}, headers: { "idempotency-key": key } });
    const second = await api("/v1/checkout", { method: "POST", token: buyer.accessToken, json: {}, headers: { "idempotency-key": key } });
    expect(first.status).toBe(201);
    expect(second.headers.get("idempotency-replayed")).toBe("true");
    expect(await second.json()).toEqual(await first.json());
    expect(await db.select().from(orders).where(eq(orders.buyerId, buyer.userId))).toHaveLength(1);
  });
});

describe("one cart, one open order", () => {
  const checkout = (buyer: { accessToken: string }) => api("/v1/checkout", { method: "POST", token: buyer.accessToken, json: {} });
  type Started = { orderId: string; sessionId: string; totalCents: number };

  it("answers concurrent checkouts of one cart with one order and one session", async () => {
    const buyer = await signUp("buyer");
    await fillCart(buyer.userId, [{ imageId: await approvedImage(), licenseType: "standard" }]);
    const responses = await Promise.all([checkout(buyer), checkout(buyer), checkout(buyer)]);
    expect(responses.map((r) => r.status)).toEqual([201, 201, 201]);
    const started = (await Promise.all(responses.map((r) => r.json()))) as Started[];
    expect(new Set(started.map((s) => s.orderId)).size).toBe(1);
    expect(new Set(started.map((s) => s.sessionId)).size).toBe(1);
    expect(await db.select().from(orders).where(eq(orders.buyerId, buyer.userId))).toHaveLength(1);
    // And later, unchanged: still the same order.
    expect(((await (await checkout(buyer)).json()) as Started).orderId).toBe(started[0]?.orderId);
  });

  it("refunds what a superseded order's late payment would license twice, and licenses once", async () => {
    const buyer = await signUp("buyer");
    const [x, y] = [await approvedImage({ standardCents: 1500 }), await approvedImage({ standardCents: 700 })];
    await fillCart(buyer.userId, [{ imageId: x, licenseType: "standard" }]);
    const first = (await (await checkout(buyer)).json()) as Started;
    // The buyer pays the first session, and before its webhook arrives checks out a changed cart.
    const firstEvents = await control(`/checkout/${first.sessionId}/complete`, { outcome: "paid" });
    await fillCart(buyer.userId, [{ imageId: y, licenseType: "standard" }]);
    const second = (await (await checkout(buyer)).json()) as Started;
    expect(second.orderId).not.toBe(first.orderId);
    expect(one(await db.select().from(orders).where(eq(orders.id, first.orderId))).status).toBe("canceled");
    const secondEvents = await control(`/checkout/${second.sessionId}/complete`, { outcome: "paid" });

    expect(await deliver(nth(firstEvents, 0))).toMatchObject({ outcome: "paid" });
    expect(await deliver(nth(secondEvents, 0))).toMatchObject({ outcome: "paid" });

    const held = await db
      .select()
      .from(licenses)
      .where(and(eq(licenses.buyerId, buyer.userId), eq(licenses.imageId, x)));
    expect(held).toHaveLength(1);
    expect(await db.select().from(contributorEarnings).where(eq(contributorEarnings.imageId, x))).toHaveLength(1);
    expect(
      await db
        .select()
        .from(licenses)
        .where(and(eq(licenses.buyerId, buyer.userId), eq(licenses.imageId, y))),
    ).toHaveLength(1);

    const order = (await (await api(`/v1/orders/${second.orderId}`, { token: buyer.accessToken })).json()) as {
      automaticRefund: { amountCents: number; refundId: string | null } | null;
      items: { imageId: string; refused: string | null; licenseId: string | null }[];
    };
    expect(order.automaticRefund).toMatchObject({ amountCents: 1500, refundId: expect.stringMatching(/^re_/) });
    expect(order.items.find((i) => i.imageId === x)).toMatchObject({ refused: "already-licensed", licenseId: null });
    expect(order.items.find((i) => i.imageId === y)).toMatchObject({ refused: null, licenseId: expect.any(String) });
    const refund = await stripe.refunds.retrieve(order.automaticRefund?.refundId as string);
    expect(refund).toMatchObject({ amount: 1500, status: "succeeded" });
  });

  it("refunds an item taken down between checkout and payment instead of licensing it", async () => {
    const buyer = await signUp("buyer");
    const image = await approvedImage({ standardCents: 1100 });
    const { orderId, events } = await buy(buyer, [{ imageId: image, licenseType: "standard" }]);
    const admin = await signUp("admin");
    expect((await api(`/v1/admin/images/${image}/takedown`, { method: "POST", token: admin.accessToken, json: { reason: "Copyright claim" } })).status).toBe(200);
    await deliver(nth(events, 0));
    expect(await db.select().from(licenses).where(eq(licenses.buyerId, buyer.userId))).toHaveLength(0);
    expect(await db.select().from(contributorEarnings).where(eq(contributorEarnings.imageId, image))).toHaveLength(0);
    const order = one(await db.select().from(orders).where(eq(orders.id, orderId)));
    expect(order.refundDueCents).toBe(1100);
    expect(await stripe.refunds.retrieve(order.autoRefundId as string)).toMatchObject({ amount: 1100 });
    expect(one(await db.select().from(orderItems).where(eq(orderItems.orderId, orderId))).refusedReason).toBe("taken-down");
  });
});

describe("webhooks", () => {
  it("refuses a bad signature with a 400 problem and changes nothing", async () => {
    const buyer = await signUp("buyer");
    const { orderId, events } = await buy(buyer, [{ imageId: await approvedImage(), licenseType: "standard" }]);
    const before = await db.select({ n: sql<number>`count(*)::int` }).from(processedWebhookEvents);
    for (const signature of [await sign(nth(events, 0).payload, "whsec_wrong"), "t=1,v1=abc", ""]) {
      const res = await api("/v1/webhooks/stripe", {
        method: "POST",
        body: nth(events, 0).payload,
        headers: { "content-type": "application/json", ...(signature ? { "stripe-signature": signature } : {}) },
      });
      await expectProblem(res, 400, "webhook-signature-invalid");
    }
    // A correctly signed header for another body.
    const res = await api("/v1/webhooks/stripe", {
      method: "POST",
      body: nth(events, 0).payload.replace('"paid"', '"unpaid"'),
      headers: { "stripe-signature": await sign(nth(events, 0).payload) },
    });
    await expectProblem(res, 400, "webhook-signature-invalid");
    expect(await db.select({ n: sql<number>`count(*)::int` }).from(processedWebhookEvents)).toEqual(before);
    expect(one(await db.select().from(orders).where(eq(orders.id, orderId))).status).toBe("pending");
  });

  it("processes a replayed event once, and two concurrent deliveries issue one license", async () => {
    const buyer = await signUp("buyer");
    const { events } = await buy(buyer, [
      { imageId: await approvedImage(), licenseType: "standard" },
      { imageId: await approvedImage(), licenseType: "standard" },
    ]);
    const results = await Promise.all([deliver(nth(events, 0)), deliver(nth(events, 0)), deliver(nth(events, 0))]);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(results.filter((r) => r.duplicate)).toHaveLength(2);
    expect(await deliver(nth(events, 0))).toMatchObject({ duplicate: true });
    const issued = await db.select().from(licenses).where(eq(licenses.buyerId, buyer.userId));
    expect(issued).toHaveLength(2);
    const earned = await db
      .select()
      .from(contributorEarnings)
      .where(
        inArray(
          contributorEarnings.licenseId,
          issued.map((l) => l.id),
        ),
      );
    expect(earned).toHaveLength(2);
  });

  it("acknowledges unknown event types and objects that are not ours", async () => {
    const unknownType = JSON.stringify({ id: `evt_${crypto.randomUUID()}`, object: "event", type: "customer.tax_id.created", created: 1, data: { object: { id: "txi_1" } } });
    expect(await deliver({ payload: unknownType })).toMatchObject({ outcome: "ignored" });
    const foreignSession = JSON.stringify({
      id: `evt_${crypto.randomUUID()}`,
      object: "event",
      type: "checkout.session.completed",
      created: 1,
      data: {
        object: {
          id: "cs_test_foreign",
          object: "checkout.session",
          mode: "payment",
          payment_status: "paid",
          payment_intent: "pi_foreign",
          amount_total: 100,
          currency: "usd",
          metadata: {},
        },
      },
    });
    expect(await deliver({ payload: foreignSession })).toMatchObject({ outcome: "unknown-order" });
  });

  it("revokes licenses and reverses earnings on a full refund; downloads stop", async () => {
    const buyer = await signUp("buyer");
    const image = await approvedImage();
    const { orderId, events } = await buy(buyer, [{ imageId: image, licenseType: "standard" }]);
    await deliver(nth(events, 0));
    const order = one(await db.select().from(orders).where(eq(orders.id, orderId)));
    const refund = await stripe.refunds.create({ payment_intent: order.stripePaymentIntentId! });
    const refunded = await latestEvent("charge.refunded", refund.charge as string);
    expect(await deliver(refunded)).toMatchObject({ outcome: "refunded" });
    expect(await deliver(refunded)).toMatchObject({ duplicate: true });

    const license = one(await db.select().from(licenses).where(eq(licenses.buyerId, buyer.userId)));
    expect(license.revokedReason).toBe("refund");
    expect(one(await db.select().from(orders).where(eq(orders.id, orderId))).status).toBe("refunded");
    const ledger = await db.select().from(contributorEarnings).where(eq(contributorEarnings.licenseId, license.id));
    expect(ledger.map((e) => `${e.kind}:${e.status}`).sort()).toEqual(["reversal:reversed", "sale:reversed"]);
    expect(ledger.reduce((sum, e) => sum + e.amountCents, 0)).toBe(0);
    await expectProblem(await download(buyer.accessToken, image, license.id), 403, "license-required");
  });

  it("settles to the same state when the refund arrives before the payment event", async () => {
    const buyer = await signUp("buyer");
    const { orderId, events } = await buy(buyer, [{ imageId: await approvedImage(), licenseType: "standard" }]);
    const session = JSON.parse(nth(events, 0).payload).data.object as { payment_intent: string };
    const refund = await stripe.refunds.create({ payment_intent: session.payment_intent });
    expect(await deliver(await latestEvent("charge.refunded", refund.charge as string))).toMatchObject({ outcome: "recorded-for-later" });
    expect(await deliver(nth(events, 0))).toMatchObject({ outcome: "reversed-before-payment" });
    expect(one(await db.select().from(orders).where(eq(orders.id, orderId))).status).toBe("refunded");
    expect(await db.select().from(licenses).where(eq(licenses.buyerId, buyer.userId))).toHaveLength(0);
  });

  it("revokes on a dispute; an already paid-out sale gets an available negative reversal", async () => {
    const buyer = await signUp("buyer");
    const { orderId, events } = await buy(buyer, [{ imageId: await approvedImage(), licenseType: "standard" }]);
    await deliver(nth(events, 0));
    const license = one(await db.select().from(licenses).where(eq(licenses.buyerId, buyer.userId)));
    // As if the sale had been paid out already.
    await db.update(contributorEarnings).set({ status: "paid" }).where(eq(contributorEarnings.licenseId, license.id));
    const order = one(await db.select().from(orders).where(eq(orders.id, orderId)));
    const pi = await stripe.paymentIntents.retrieve(order.stripePaymentIntentId!);
    const disputeEvents = await control(`/_dev/charges/${pi.latest_charge}/dispute`);
    expect(await deliver(nth(disputeEvents, 0))).toMatchObject({ outcome: "disputed" });
    const ledger = await db.select().from(contributorEarnings).where(eq(contributorEarnings.licenseId, license.id));
    const reversal = ledger.find((e) => e.kind === "reversal")!;
    expect(reversal.status).toBe("available");
    expect(reversal.amountCents).toBe(-ledger.find((e) => e.kind === "sale")!.amountCents);
    expect(one(await db.select().from(licenses).where(eq(licenses.id, license.id))).revokedReason).toBe("dispute");
  });

  it("leaves an order pending for a bank transfer, then pays it or fails it", async () => {
    const buyer = await signUp("buyer");
    const ok = await buy(buyer, [{ imageId: await approvedImage(), licenseType: "standard" }], "async");
    expect(await deliver(nth(ok.events, 0))).toMatchObject({ outcome: "awaiting-payment" });
    expect(await db.select().from(licenses).where(eq(licenses.buyerId, buyer.userId))).toHaveLength(0);
    const settled = await control(`/_dev/checkout/${ok.sessionId}/async`, { succeed: true });
    expect(await deliver(nth(settled, 0))).toMatchObject({ type: "checkout.session.async_payment_succeeded", outcome: "paid" });
    expect(await db.select().from(licenses).where(eq(licenses.buyerId, buyer.userId))).toHaveLength(1);

    const failing = await buy(buyer, [{ imageId: await approvedImage(), licenseType: "standard" }], "async");
    await deliver(nth(failing.events, 0));
    const failed = await control(`/_dev/checkout/${failing.sessionId}/async`, { succeed: false });
    expect(await deliver(nth(failed, 0))).toMatchObject({ outcome: "failed" });
    expect(one(await db.select().from(orders).where(eq(orders.id, failing.orderId))).status).toBe("failed");
  });
});

describe("subscriptions", () => {
  async function plan(monthlyCredits: number) {
    const id = `test-${crypto.randomUUID().slice(0, 8)}`;
    await db.insert(subscriptionPlans).values({ id, name: `Test ${monthlyCredits}`, monthlyCredits, priceCents: 2900 });
    return id;
  }

  async function subscribe(buyer: { accessToken: string }, planId: string) {
    const res = await api("/v1/checkout/subscription", { method: "POST", token: buyer.accessToken, json: { planId } });
    expect(res.status).toBe(201);
    const { sessionId } = (await res.json()) as { sessionId: string };
    return control(`/checkout/${sessionId}/complete`);
  }

  const creditsLeft = async (token: string) =>
    ((await (await api("/v1/subscription", { token })).json()) as { subscription: { creditsLeft: number } | null }).subscription?.creditsLeft ?? null;

  it("grants monthly credits, spends one per new image, reuses the license on re-download, and resets each period", async () => {
    const buyer = await signUp("buyer");
    const events = await subscribe(buyer, await plan(2));
    expect(events.map((e) => e.type)).toEqual(["customer.subscription.created", "checkout.session.completed", "invoice.paid"]);
    for (const event of events) await deliver(event);
    expect(await creditsLeft(buyer.accessToken)).toBe(2);

    const [x, y, z] = [await approvedImage(), await approvedImage(), await approvedImage()];
    const first = (await (await download(buyer.accessToken, x, "standard")).json()) as { usedCredit: boolean; licenseId: string };
    expect(first.usedCredit).toBe(true);
    expect(((await (await download(buyer.accessToken, x, "standard")).json()) as { usedCredit: boolean }).usedCredit).toBe(false);
    expect(await creditsLeft(buyer.accessToken)).toBe(1);
    // Enhanced licenses are not covered by credits.
    await expectProblem(await download(buyer.accessToken, y, "enhanced"), 403, "license-required");
    // Two downloads at once cannot both spend the last credit.
    const raced = await Promise.all([download(buyer.accessToken, y, "standard"), download(buyer.accessToken, z, "standard")]);
    expect(raced.map((r) => r.status).sort()).toEqual([200, 403]);
    expect(await creditsLeft(buyer.accessToken)).toBe(0);

    // The contributor earns a share of the credit's value (2900 / 2 = 1450; 25 % = 362).
    const earning = one(await db.select().from(contributorEarnings).where(eq(contributorEarnings.licenseId, first.licenseId)));
    expect(earning).toMatchObject({ grossCents: 1450, amountCents: 362, orderItemId: null });

    const sub = one(await db.select().from(subscriptions).where(eq(subscriptions.userId, buyer.userId)));
    const renewal = await control(`/_dev/subscriptions/${sub.stripeSubscriptionId}/renew`);
    for (const event of renewal) await deliver(event);
    for (const event of renewal) expect(await deliver(event)).toMatchObject({ duplicate: true });
    expect(await creditsLeft(buyer.accessToken)).toBe(2);

    const ledger = await db.select().from(downloadCredits).where(eq(downloadCredits.subscriptionId, sub.id));
    expect(ledger.reduce((sum, row) => sum + row.delta, 0)).toBe(2);
    expect(ledger.filter((row) => row.reason === "grant")).toHaveLength(2);

    await stripe.subscriptions.cancel(sub.stripeSubscriptionId!);
    await deliver(await latestEvent("customer.subscription.deleted", sub.stripeSubscriptionId!));
    expect(await creditsLeft(buyer.accessToken)).toBeNull();
    await expectProblem(await download(buyer.accessToken, await approvedImage(), "standard"), 403, "license-required");
  });

  it("spends no credit on an image that is not for sale, and keeps a held license working after a withdrawal but not a takedown", async () => {
    const buyer = await signUp("buyer");
    for (const event of await subscribe(buyer, await plan(10))) await deliver(event);
    const other = await signUp("contributor");
    const listed = await approvedImage();
    const states: { name: string; set: Partial<typeof images.$inferInsert>; status: number }[] = [
      { name: "pending review (NSFW-flagged)", set: { status: "pending_review", statusReason: "NSFW score 0.9", publishedAt: null }, status: 404 },
      { name: "rejected by a moderator", set: { status: "rejected", statusReason: "Blurry" }, status: 404 },
      { name: "rejected as another contributor's duplicate", set: { status: "rejected", duplicateOf: listed, contributorId: other.userId }, status: 404 },
      { name: "withdrawn", set: { withdrawnAt: new Date() }, status: 410 },
      { name: "taken down", set: { status: "rejected", takenDownAt: new Date() }, status: 410 },
      { name: "processing failed", set: { status: "processing_failed", stage: "failed", publishedAt: null }, status: 404 },
      { name: "never uploaded", set: { status: "processing", stage: "awaiting_upload", publishedAt: null }, status: 404 },
    ];
    for (const state of states) {
      const id = await approvedImage();
      await db.update(images).set(state.set).where(eq(images.id, id));
      const res = await download(buyer.accessToken, id, "standard");
      expect(res.status, `${state.name}: ${await res.clone().text()}`).toBe(state.status);
      expect(await db.select().from(licenses).where(eq(licenses.imageId, id)), state.name).toHaveLength(0);
      expect(await db.select().from(contributorEarnings).where(eq(contributorEarnings.imageId, id)), state.name).toHaveLength(0);
      expect(await db.select().from(downloadEvents).where(eq(downloadEvents.imageId, id)), state.name).toHaveLength(0);
    }
    expect(await creditsLeft(buyer.accessToken)).toBe(10);

    // A license already held keeps working for a withdrawn image, and stops at a takedown.
    const held = await approvedImage();
    expect((await download(buyer.accessToken, held, "standard")).status).toBe(200);
    await db.update(images).set({ withdrawnAt: new Date() }).where(eq(images.id, held));
    const again = await download(buyer.accessToken, held, "standard");
    expect(again.status).toBe(200);
    expect(((await again.json()) as { usedCredit: boolean }).usedCredit).toBe(false);
    await db.update(images).set({ status: "rejected", takenDownAt: new Date() }).where(eq(images.id, held));
    await expectProblem(await download(buyer.accessToken, held, "standard"), 410, "image-unavailable");
    expect(await creditsLeft(buyer.accessToken)).toBe(9);
  });

  it("spends one credit when the same image is downloaded twice at once", async () => {
    const buyer = await signUp("buyer");
    for (const event of await subscribe(buyer, await plan(3))) await deliver(event);
    const image = await approvedImage();
    const both = await Promise.all([download(buyer.accessToken, image, "standard"), download(buyer.accessToken, image, "standard")]);
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    const tickets = (await Promise.all(both.map((r) => r.json()))) as { usedCredit: boolean; licenseId: string }[];
    expect(tickets.filter((t) => t.usedCredit)).toHaveLength(1);
    expect(new Set(tickets.map((t) => t.licenseId)).size).toBe(1);
    expect(await creditsLeft(buyer.accessToken)).toBe(2);
  });

  it("reaches the same state when invoice.paid comes before the subscription, and ignores a stale update", async () => {
    const buyer = await signUp("buyer");
    const events = await subscribe(buyer, await plan(5));
    const [created, completed, paid] = [nth(events, 0), nth(events, 1), nth(events, 2)];
    expect(await deliver(paid)).toMatchObject({ outcome: "credits-granted" });
    expect(await deliver(completed)).toMatchObject({ outcome: "subscription-checkout-completed" });
    expect(await deliver(created)).toMatchObject({ outcome: "active" });
    expect(await creditsLeft(buyer.accessToken)).toBe(5);

    const sub = one(await db.select().from(subscriptions).where(eq(subscriptions.userId, buyer.userId)));
    const stale = JSON.parse(created.payload);
    stale.id = `evt_${crypto.randomUUID()}`;
    stale.type = "customer.subscription.updated";
    stale.created -= 3600;
    stale.data.object.status = "past_due";
    expect(await deliver({ payload: JSON.stringify(stale) })).toMatchObject({ outcome: "stale-event-ignored" });
    expect(one(await db.select().from(subscriptions).where(eq(subscriptions.id, sub.id))).status).toBe("active");
  });
});

describe("contributor payouts", () => {
  async function onboardedContributor() {
    const person = await signUp("contributor");
    const res = await api("/v1/contributor/payout-settings", { method: "PUT", token: person.accessToken, json: {} });
    expect(res.status).toBe(200);
    const settings = (await res.json()) as { accountId: string; onboardingUrl: string; payoutsEnabled: boolean };
    expect(settings.payoutsEnabled).toBe(false);
    expect(settings.onboardingUrl.startsWith(STANDIN)).toBe(true);
    const events = await control(`/connect/onboard/${settings.accountId}/complete`);
    expect(await deliver(nth(events, 0))).toMatchObject({ outcome: "payouts-enabled" });
    return { ...person, accountId: settings.accountId };
  }

  async function availableEarnings(contributorId: string, amounts: number[]) {
    const imageId = await approvedImage();
    const buyer = await signUp("buyer");
    for (const amount of amounts) {
      const license = one(
        await db
          .insert(licenses)
          .values({ buyerId: buyer.userId, imageId, licenseType: "standard", priceCents: amount * 4 })
          .returning(),
      );
      await db.insert(contributorEarnings).values({
        contributorId,
        licenseId: license.id,
        imageId,
        grossCents: amount * 4,
        shareBps: 2500,
        amountCents: amount,
        status: "available",
        availableAt: new Date("2031-03-10T00:00:00Z"),
      });
    }
  }

  it("pays each ready contributor once per period, even when the run is repeated or crashed after Stripe answered", async () => {
    const alice = await onboardedContributor();
    const bob = await onboardedContributor();
    const carol = await signUp("contributor"); // never onboarded: not paid
    await availableEarnings(alice.userId, [3000, 2500, 125]);
    await availableEarnings(bob.userId, [4000, 1500]);
    await availableEarnings(carol.userId, [9000]);
    const period = "2031-03";

    // Simulate a crash after Stripe made Bob's transfer and before it was recorded: the payout row
    // exists (step 2 committed) and Stripe holds a transfer for it.
    const admin = await signUp("admin");
    const run = async () => {
      const res = await api("/v1/admin/payouts/run", { method: "POST", token: admin.accessToken, json: { period } });
      expect(res.status).toBe(200);
      return (await res.json()) as { created: number; transferred: number; adopted: number; mismatches: unknown[]; failed: unknown[] };
    };
    await db
      .update(users)
      .set({ payoutsEnabled: false })
      .where(inArray(users.id, [alice.userId]));
    const partial = await run(); // only Bob is ready: his payout is made and paid
    expect(partial).toMatchObject({ created: 1, transferred: 1, adopted: 0, failed: [] });
    const bobPayout = one(
      await db
        .select()
        .from(payouts)
        .where(and(eq(payouts.contributorId, bob.userId), eq(payouts.period, period))),
    );
    expect(bobPayout).toMatchObject({ amountCents: 5500, status: "paid" });

    await db.update(users).set({ payoutsEnabled: true }).where(eq(users.id, alice.userId));
    // Alice's payout row is created, then "the process dies" after Stripe made the transfer.
    const alicePayout = one(await db.insert(payouts).values({ contributorId: alice.userId, period, amountCents: 5625, status: "pending" }).returning());
    await db
      .update(contributorEarnings)
      .set({ payoutId: alicePayout.id })
      .where(and(eq(contributorEarnings.contributorId, alice.userId), eq(contributorEarnings.status, "available")));
    await stripe.transfers.create({ amount: 5625, currency: "usd", destination: alice.accountId, transfer_group: alicePayout.id, metadata: { payout_id: alicePayout.id } });

    const again = await run();
    expect(again).toMatchObject({ created: 0, transferred: 0, adopted: 1, mismatches: [], failed: [] });
    const third = await run();
    expect(third).toMatchObject({ created: 0, transferred: 0, adopted: 0, mismatches: [] });

    for (const [person, amount] of [
      [alice, 5625],
      [bob, 5500],
    ] as const) {
      const transfers = await stripe.transfers.list({ destination: person.accountId, limit: 100 });
      expect(transfers.data).toHaveLength(1);
      expect(nth(transfers.data, 0).amount).toBe(amount);
      const rows = await db.select().from(contributorEarnings).where(eq(contributorEarnings.contributorId, person.userId));
      expect(rows.every((row) => row.status === "paid")).toBe(true);
      expect(rows.reduce((sum, row) => sum + row.amountCents, 0)).toBe(amount);
    }
    expect(await db.select().from(payouts).where(eq(payouts.contributorId, carol.userId))).toHaveLength(0);
  });

  it("holds balances below the minimum for a later period", async () => {
    const dave = await onboardedContributor();
    await availableEarnings(dave.userId, [1000]);
    const admin = await signUp("admin");
    const res = await api("/v1/admin/payouts/run", { method: "POST", token: admin.accessToken, json: { period: "2031-04" } });
    expect(res.status).toBe(200);
    expect(await db.select().from(payouts).where(eq(payouts.contributorId, dave.userId))).toHaveLength(0);
    const rows = await db.select().from(contributorEarnings).where(eq(contributorEarnings.contributorId, dave.userId));
    expect(rows.map((row) => row.status)).toEqual(["available"]);
  });
});
