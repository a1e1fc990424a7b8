import { and, eq, inArray, isNull } from "drizzle-orm";
import type { Database } from "../../db/connect";
import { cartItems, carts, images, licenses, orderItems, orders, subscriptionPlans, subscriptions, users } from "../../db/schema";
import type { Config } from "../config";
import { ApiError } from "../lib/problem";
import { derivativeUrls } from "./image-page";
import { quote } from "./prices";
import { providerError, type Stripe, stripeClient } from "./stripe";
import { LIVE_SUBSCRIPTION_STATUSES } from "./subscriptions";

export type CheckoutDeps = { db: Database; config: Config };

export type CheckoutStarted = {
  orderId: string | null;
  sessionId: string;
  checkoutUrl: string;
  totalCents: number;
  currency: string;
  expiresAt: string;
};

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
  await deps.db.update(users).set({ stripeCustomerId: customer.id }).where(and(eq(users.id, buyerId), isNull(users.stripeCustomerId)));
  const [stored] = await deps.db.select({ customer: users.stripeCustomerId }).from(users).where(eq(users.id, buyerId));
  return stored?.customer ?? customer.id;
}

const returnUrls = (config: Config, kind: string) => {
  const base = config.PUBLIC_APP_URL.replace(/\/+$/, "");
  return {
    success_url: `${base}/checkout/${kind}/success?session_id={CHECKOUT_SESSION_ID}`,
    cancel_url: `${base}/checkout/${kind}/canceled`,
  };
};

/**
 * Turns the buyer's cart into a pending order with prices frozen, then a Stripe Checkout Session
 * for exactly that order. Nothing is granted here: licenses come from the paid webhook. Items
 * that cannot be bought any more, or that the buyer already holds, are refused (409) so the
 * buyer is never charged for them.
 */
export async function checkoutCart(deps: CheckoutDeps, buyerId: string): Promise<CheckoutStarted> {
  const { db, config } = deps;
  const items = await db
    .select({ imageId: cartItems.imageId, licenseType: cartItems.licenseType })
    .from(cartItems)
    .innerJoin(carts, eq(carts.id, cartItems.cartId))
    .where(eq(carts.buyerId, buyerId))
    .orderBy(cartItems.addedAt, cartItems.imageId);
  if (items.length === 0) throw new ApiError("validation-failed", "the cart is empty", { errors: [{ path: "cart", message: "add images to the cart first" }] });

  const quotes = await quote(db, items);
  const held = await db
    .select({ imageId: licenses.imageId, licenseType: licenses.licenseType })
    .from(licenses)
    .where(and(eq(licenses.buyerId, buyerId), isNull(licenses.revokedAt), inArray(licenses.imageId, items.map((item) => item.imageId))));
  const refused = quotes
    .map((q) => ({ imageId: q.imageId, licenseType: q.licenseType, reason: q.unavailable ?? (held.some((h) => h.imageId === q.imageId && h.licenseType === q.licenseType) ? "already-licensed" : null) }))
    .filter((item) => item.reason !== null);
  if (refused.length > 0) {
    throw new ApiError("conflict", "some cart items cannot be bought; remove them and try again", { items: refused });
  }

  const currency = quotes[0]?.currency ?? "usd";
  const totalCents = quotes.reduce((sum, q) => sum + (q.amountCents ?? 0), 0);
  const customer = await stripeCustomerFor(deps, buyerId);

  const order = await db.transaction(async (tx) => {
    const [created] = await tx.insert(orders).values({ buyerId, totalCents, currency }).returning({ id: orders.id });
    if (!created) throw new Error("the order insert returned no row");
    await tx.insert(orderItems).values(quotes.map((q) => ({ orderId: created.id, imageId: q.imageId, licenseType: q.licenseType, priceCents: q.amountCents ?? 0, currency })));
    return created;
  });

  const thumbnails = await db
    .select({ id: images.id, keys: images.derivativeKeys })
    .from(images)
    .where(inArray(images.id, items.map((item) => item.imageId)));
  const thumbnailOf = (imageId: string) => derivativeUrls(config.DERIVATIVES_PUBLIC_URL, thumbnails.find((t) => t.id === imageId)?.keys ?? null).thumb450;

  let session: Stripe.Checkout.Session;
  try {
    session = await stripeClient(config).checkout.sessions.create(
      {
        mode: "payment",
        customer,
        client_reference_id: order.id,
        metadata: { order_id: order.id },
        payment_intent_data: { metadata: { order_id: order.id } },
        line_items: quotes.map((q) => {
          const thumbnail = thumbnailOf(q.imageId);
          return {
            quantity: 1,
            price_data: {
              currency,
              unit_amount: q.amountCents ?? 0,
              product_data: {
                name: `${q.title} (${q.licenseType} license)`,
                metadata: { image_id: q.imageId, license_type: q.licenseType },
                ...(thumbnail ? { images: [thumbnail] } : {}),
              },
            },
          };
        }),
        ...returnUrls(config, "order"),
      },
      { idempotencyKey: `checkout-${order.id}` },
    );
  } catch (error) {
    await db.update(orders).set({ status: "canceled", updatedAt: new Date() }).where(eq(orders.id, order.id));
    throw providerError(error);
  }
  await db.update(orders).set({ stripeCheckoutSessionId: session.id, updatedAt: new Date() }).where(eq(orders.id, order.id));
  return {
    orderId: order.id,
    sessionId: session.id,
    checkoutUrl: session.url ?? "",
    totalCents,
    currency,
    expiresAt: new Date(session.expires_at * 1000).toISOString(),
  };
}

/**
 * A Checkout Session in subscription mode for one plan. The plan and buyer travel in the
 * subscription's metadata, so every later subscription and invoice event finds them. A buyer
 * with a live subscription is refused (manage it instead of stacking plans).
 */
export async function checkoutSubscription(deps: CheckoutDeps, buyerId: string, planId: string): Promise<CheckoutStarted> {
  const { db, config } = deps;
  const [plan] = await db.select().from(subscriptionPlans).where(and(eq(subscriptionPlans.id, planId), eq(subscriptionPlans.active, true)));
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
      ...returnUrls(config, "subscription"),
    });
    return {
      orderId: null,
      sessionId: session.id,
      checkoutUrl: session.url ?? "",
      totalCents: plan.priceCents,
      currency: plan.currency,
      expiresAt: new Date(session.expires_at * 1000).toISOString(),
    };
  } catch (error) {
    throw providerError(error);
  }
}
