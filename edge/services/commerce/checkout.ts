import { and, eq, inArray, isNull } from "drizzle-orm";
import * as v from "valibot";
import type { Logger } from "../../../common/log";
import type { Database } from "../../../db/connect";
import { cartItems, carts, images, orderItems, orders, subscriptionPlans, subscriptions, users } from "../../../db/schema";
import { CURRENCY_DEFAULT } from "../../../db/schema/columns";
import type { PublicUrls } from "../../adapters/public-urls";
import { providerError, type Stripe, stripeClient } from "../../adapters/stripe";
import type { Config } from "../../config";
import { ApiError } from "../../lib/problem";
import { heldLicenses, holding } from "./licenses";
import { sumCents } from "./money";
import { quote } from "./quotes";
import { stripeTime } from "./stripe-objects";
import { LIVE_SUBSCRIPTION_STATUSES } from "./subscriptions";

export type CheckoutDeps = { db: Database; config: Config; urls: PublicUrls; log: Logger };

export const CheckoutStartedSchema = v.object({
  orderId: v.nullable(v.string()),
  sessionId: v.string(),
  checkoutUrl: v.string(),
  totalCents: v.number(),
  currency: v.string(),
  expiresAt: v.string(),
});
export type CheckoutStarted = v.InferOutput<typeof CheckoutStartedSchema>;

/** Where the buyer goes to pay: the session's page and when it expires, with what it charges. */
const startedAt = (session: Stripe.Checkout.Session, charge: { orderId: string | null; totalCents: number; currency: string }): CheckoutStarted => ({
  orderId: charge.orderId,
  sessionId: session.id,
  checkoutUrl: session.url ?? "",
  totalCents: charge.totalCents,
  currency: charge.currency,
  expiresAt: stripeTime(session.expires_at).toISOString(),
});

/**
 * The buyer's Stripe customer, created once. The idempotency key makes two concurrent first
 * checkouts create one customer; the conditional update keeps the first id stored.
 */
async function stripeCustomerFor(deps: CheckoutDeps, buyerId: string): Promise<string> {
  const [user] = await deps.db.select({ email: users.email, name: users.displayName, customer: users.stripeCustomerId }).from(users).where(eq(users.id, buyerId));
  if (!user) throw new ApiError("unauthenticated");
  if (user.customer) return user.customer;
  const customer = await stripeClient(deps.config)
    .customers.create({ email: user.email, name: user.name, metadata: { user_id: buyerId } }, { idempotencyKey: `customer-${buyerId}` })
    .catch((error) => {
      throw providerError(error);
    });
  await deps.db
    .update(users)
    .set({ stripeCustomerId: customer.id })
    .where(and(eq(users.id, buyerId), isNull(users.stripeCustomerId)));
  const [stored] = await deps.db.select({ customer: users.stripeCustomerId }).from(users).where(eq(users.id, buyerId));
  return stored?.customer ?? customer.id;
}

/** Where Stripe sends the buyer back to, in the app. */
const returnUrls = (urls: PublicUrls, kind: string) => ({
  success_url: `${urls.app}/checkout/${kind}/success?session_id={CHECKOUT_SESSION_ID}`,
  cancel_url: `${urls.app}/checkout/${kind}/canceled`,
});

/** Stripe keeps a Checkout Session open 24 hours; an open order older than this gets a new one. */
const REUSE_OPEN_ORDER_MS = 23 * 3_600_000;

type OpenOrder = { id: string; totalCents: number; currency: string; sessionId: string | null; items: { imageId: string; licenseType: string; priceCents: number }[] };

const sameItems = (a: OpenOrder["items"], b: OpenOrder["items"]) => {
  const key = (items: OpenOrder["items"]) =>
    items
      .map((i) => `${i.imageId}:${i.licenseType}:${i.priceCents}`)
      .sort()
      .join(",");
  return key(a) === key(b);
};

/**
 * Turns the buyer's cart into its one open order, with prices frozen, then a Stripe Checkout
 * Session for exactly that order. Nothing is granted here: licenses come from the paid webhook.
 * Items that cannot be bought any more, or that the buyer already holds, are refused (409) so the
 * buyer is never charged for them.
 *
 * One cart, one open order: checkouts of a cart take its row lock in turn. A checkout of an
 * unchanged cart answers with the open order and its session (the session is created under the
 * order's idempotency key, so two concurrent first calls get one session); a changed cart
 * supersedes the open order (canceled, its session expired). A payment that still arrives for a
 * superseded order is settled like any other, and what it would license twice is refunded.
 */
export async function checkoutCart(deps: CheckoutDeps, buyerId: string): Promise<CheckoutStarted> {
  const { db, config } = deps;
  const { order, superseded } = await db.transaction(async (tx) => {
    await tx.select({ id: carts.id }).from(carts).where(eq(carts.buyerId, buyerId)).for("update");
    const items = await tx
      .select({ imageId: cartItems.imageId, licenseType: cartItems.licenseType })
      .from(cartItems)
      .innerJoin(carts, eq(carts.id, cartItems.cartId))
      .where(eq(carts.buyerId, buyerId))
      .orderBy(cartItems.addedAt, cartItems.imageId);
    if (items.length === 0) throw new ApiError("validation-failed", "the cart is empty", { errors: [{ path: "cart", message: "add images to the cart first" }] });

    const quotes = await quote(tx, items);
    const held = await heldLicenses(
      tx,
      buyerId,
      items.map((item) => item.imageId),
    );
    const refused = quotes
      .map((q) => ({
        imageId: q.imageId,
        licenseType: q.licenseType,
        reason: q.unavailable ?? (holding(held, q) ? "already-licensed" : null),
      }))
      .filter((item) => item.reason !== null);
    if (refused.length > 0) {
      throw new ApiError("conflict", "some cart items cannot be bought; remove them and try again", { items: refused });
    }
    const currency = quotes[0]?.currency ?? CURRENCY_DEFAULT;
    const wanted = quotes.map((q) => ({ imageId: q.imageId, licenseType: q.licenseType as string, priceCents: q.amountCents ?? 0 }));

    const [open] = await tx
      .select()
      .from(orders)
      .where(and(eq(orders.buyerId, buyerId), eq(orders.status, "pending")))
      .for("update");
    let superseded: string | null = null;
    if (open) {
      const openItems = await tx
        .select({ imageId: orderItems.imageId, licenseType: orderItems.licenseType, priceCents: orderItems.priceCents })
        .from(orderItems)
        .where(eq(orderItems.orderId, open.id));
      if (open.currency === currency && sameItems(openItems, wanted) && Date.now() - open.createdAt.getTime() < REUSE_OPEN_ORDER_MS) {
        return { order: { id: open.id, totalCents: open.totalCents, currency: open.currency, sessionId: open.stripeCheckoutSessionId, items: openItems }, superseded };
      }
      await tx.update(orders).set({ status: "canceled", updatedAt: new Date() }).where(eq(orders.id, open.id));
      superseded = open.stripeCheckoutSessionId;
    }
    const totalCents = sumCents(wanted.map((item) => item.priceCents));
    const [created] = await tx.insert(orders).values({ buyerId, totalCents, currency }).returning({ id: orders.id });
    if (!created) throw new Error("the order insert returned no row");
    await tx.insert(orderItems).values(quotes.map((q) => ({ orderId: created.id, imageId: q.imageId, licenseType: q.licenseType, priceCents: q.amountCents ?? 0, currency })));
    return { order: { id: created.id, totalCents, currency, sessionId: null, items: wanted }, superseded };
  });

  // The superseded order's session can no longer be paid (best effort: a payment already under
  // way still settles, and the webhook refunds what it would license twice).
  if (superseded)
    await stripeClient(config)
      .checkout.sessions.expire(superseded)
      .catch((error: Error) => deps.log.warn("could not expire a superseded checkout session", { sessionId: superseded, error: error.message }));

  const session = order.sessionId ? await openSession(deps, order.sessionId) : null;
  // The Stripe customer only once the cart passed its checks: a refused checkout writes nothing.
  const started = session ?? (await createOrderSession(deps, order, await stripeCustomerFor(deps, buyerId)));
  return startedAt(started, { orderId: order.id, totalCents: order.totalCents, currency: order.currency });
}

/** The open order's session, when it can still be paid; a completed one means the payment is being settled. */
async function openSession(deps: CheckoutDeps, sessionId: string): Promise<Stripe.Checkout.Session | null> {
  const session = await stripeClient(deps.config)
    .checkout.sessions.retrieve(sessionId)
    .catch((error) => {
      throw providerError(error);
    });
  if (session.status === "complete") throw new ApiError("conflict", "this cart was just paid; its licenses arrive in a moment (see /v1/orders)");
  return session.status === "open" ? session : null;
}

/** The Checkout Session for an order, from its frozen items; the order's idempotency key makes it one session however often it is asked. */
async function createOrderSession(deps: CheckoutDeps, order: OpenOrder, customer: string): Promise<Stripe.Checkout.Session> {
  const { db, config } = deps;
  const ids = order.items.map((item) => item.imageId);
  const rows = await db.select({ id: images.id, title: images.title, keys: images.derivativeKeys }).from(images).where(inArray(images.id, ids));
  const imageOf = (imageId: string) => rows.find((row) => row.id === imageId);
  let session: Stripe.Checkout.Session;
  try {
    session = await stripeClient(config).checkout.sessions.create(
      {
        mode: "payment",
        customer,
        client_reference_id: order.id,
        metadata: { order_id: order.id },
        payment_intent_data: { metadata: { order_id: order.id } },
        line_items: order.items.map((item) => {
          const thumbnail = deps.urls.renditions(imageOf(item.imageId)?.keys ?? null).thumb450;
          return {
            quantity: 1,
            price_data: {
              currency: order.currency,
              unit_amount: item.priceCents,
              product_data: {
                name: `${imageOf(item.imageId)?.title ?? "Image"} (${item.licenseType} license)`,
                metadata: { image_id: item.imageId, license_type: item.licenseType },
                ...(thumbnail ? { images: [thumbnail] } : {}),
              },
            },
          };
        }),
        ...returnUrls(deps.urls, "order"),
      },
      { idempotencyKey: `checkout-${order.id}` },
    );
  } catch (error) {
    await db
      .update(orders)
      .set({ status: "canceled", updatedAt: new Date() })
      .where(and(eq(orders.id, order.id), eq(orders.status, "pending")));
    throw providerError(error);
  }
  await db.update(orders).set({ stripeCheckoutSessionId: session.id, updatedAt: new Date() }).where(eq(orders.id, order.id));
  return session;
}

/**
 * A Checkout Session in subscription mode for one plan. The plan and buyer travel in the
 * subscription's metadata, so every later subscription and invoice event finds them. A buyer
 * with a live subscription is refused (manage it instead of stacking plans).
 */
export async function checkoutSubscription(deps: CheckoutDeps, buyerId: string, planId: string): Promise<CheckoutStarted> {
  const { db, config } = deps;
  const [plan] = await db
    .select()
    .from(subscriptionPlans)
    .where(and(eq(subscriptionPlans.id, planId), eq(subscriptionPlans.active, true)));
  if (!plan) throw new ApiError("not-found", "no such plan on offer");
  const [live] = await db
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .where(and(eq(subscriptions.userId, buyerId), inArray(subscriptions.status, [...LIVE_SUBSCRIPTION_STATUSES])));
  if (live) throw new ApiError("conflict", "you already have a live subscription");
  const customer = await stripeCustomerFor(deps, buyerId);
  const metadata = { user_id: buyerId, plan_id: plan.id };
  try {
    const session = await stripeClient(config).checkout.sessions.create({
      mode: "subscription",
      customer,
      client_reference_id: buyerId,
      metadata,
      subscription_data: { metadata },
      line_items: [
        plan.stripePriceId
          ? { price: plan.stripePriceId, quantity: 1 }
          : {
              quantity: 1,
              price_data: {
                currency: plan.currency,
                unit_amount: plan.priceCents,
                recurring: { interval: "month" },
                product_data: { name: `${plan.name} (${plan.monthlyCredits} downloads a month)`, metadata: { plan_id: plan.id } },
              },
            },
      ],
      ...returnUrls(deps.urls, "subscription"),
    });
    return startedAt(session, { orderId: null, totalCents: plan.priceCents, currency: plan.currency });
  } catch (error) {
    throw providerError(error);
  }
}
