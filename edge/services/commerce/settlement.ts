import { and, eq, gt, inArray, isNotNull, isNull, sql } from "drizzle-orm";
import * as v from "valibot";
import { isListed, notListedReason } from "../../../common/images";
import type { Database, Transaction } from "../../../db/connect";
import { contributorEarnings, images, licenses, orderItems, orders, paymentReversals, type ReversalKind, users } from "../../../db/schema";
import { stripeClient } from "../../adapters/stripe";
import type { Config } from "../../config";
import * as s from "../../lib/schemas";
import { heldLicenses, holding } from "./licenses";
import { shareBpsFor, splitShare, sumCents } from "./money";

/**
 * What happens to money once Stripe says so: an order is paid (licenses issued, contributor
 * earnings recorded), fails, expires, or is taken back by a refund or dispute (licenses revoked,
 * earnings reversed). Every function here runs inside the webhook's transaction and is safe to run
 * twice and in any order: conditional status updates and unique keys (one license per order item,
 * one sale and one reversal per license, one reversal per payment and kind) make a repeat a no-op.
 */

export type SettleInput = {
  /** Our order id from the session's metadata, else found by the session id. */
  orderId: string | null;
  sessionId: string;
  paymentIntentId: string | null;
  chargeId?: string | null;
  amountTotal: number | null;
  currency: string | null;
};

export type SettleOutcome = "paid" | "already-settled" | "reversed-before-payment" | "unknown-order";

async function findOrder(tx: Transaction, orderId: string | null, sessionId: string) {
  // Metadata comes from Stripe: only a UUID can be one of our order ids.
  const byId = orderId && v.is(s.uuid, orderId) ? eq(orders.id, orderId) : undefined;
  const [order] = await tx
    .select()
    .from(orders)
    .where(byId ?? eq(orders.stripeCheckoutSessionId, sessionId))
    .for("update");
  return order;
}

/**
 * Why a paid order item issued no license (order_items.refused_reason): the image is no longer for
 * sale ({@link notListedReason}), or the buyer already holds that license.
 */
export const ITEM_REFUSALS = ["already-licensed", "taken-down", "withdrawn", "not-listed"] as const;
export type ItemRefusal = (typeof ITEM_REFUSALS)[number];

/** Whole days from now, as a Date. */
const daysFromNow = (days: number) => new Date(Date.now() + days * 86_400_000);

/**
 * Records the contributor's share of new licenses as pending earnings, held for the refund window.
 * `grossOf` gives what each license was worth (its price, or a subscription credit's value).
 */
export async function recordEarnings(tx: Transaction, config: Config, issued: { id: string; imageId: string; orderItemId: string | null; grossCents: number; currency: string }[]) {
  if (issued.length === 0) return;
  const owners = await tx
    .select({ imageId: images.id, contributorId: images.contributorId, tier: users.contributorTier })
    .from(images)
    .innerJoin(users, eq(users.id, images.contributorId))
    .where(inArray(images.id, [...new Set(issued.map((license) => license.imageId))]));
  const availableAt = daysFromNow(config.EARNINGS_HOLD_DAYS);
  const rows = issued.map((license) => {
    const owner = owners.find((o) => o.imageId === license.imageId);
    if (!owner) throw new Error(`image ${license.imageId} of license ${license.id} has no contributor`);
    const shareBps = shareBpsFor(config.revenueShare, owner.tier);
    return {
      contributorId: owner.contributorId,
      licenseId: license.id,
      orderItemId: license.orderItemId,
      imageId: license.imageId,
      kind: "sale" as const,
      grossCents: license.grossCents,
      shareBps,
      amountCents: splitShare(license.grossCents, shareBps).contributorCents,
      currency: license.currency,
      status: "pending" as const,
      availableAt,
    };
  });
  await tx.insert(contributorEarnings).values(rows).onConflictDoNothing();
}

/**
 * Marks an order paid and issues one license per item, then the contributors' earnings, and
 * takes the bought items out of the buyer's cart. If the payment was already refunded or disputed
 * (those webhooks can arrive first), the order takes that status and nothing is granted.
 *
 * Each item is checked against the present, not the checkout: an image no longer for sale (taken
 * down or withdrawn since) or a license the buyer already holds (another order of the same cart
 * paid first) issues nothing; the item is marked refused and its price is added to the order's
 * refund due, which {@link refundRefusedItems} returns through Stripe. A superseded (canceled)
 * order whose session was paid anyway is settled the same way: the money arrived, so it buys
 * what it still can and the rest goes back.
 */
export async function settleOrder(tx: Transaction, config: Config, input: SettleInput): Promise<SettleOutcome> {
  const order = await findOrder(tx, input.orderId, input.sessionId);
  if (!order) return "unknown-order";
  if (order.status !== "pending" && !(order.status === "canceled" && order.paidAt === null)) return "already-settled";

  if (input.paymentIntentId) {
    const reversals = await tx.select({ kind: paymentReversals.kind }).from(paymentReversals).where(eq(paymentReversals.stripePaymentIntentId, input.paymentIntentId));
    if (reversals.length > 0) {
      const status = reversals.some((r) => r.kind === "dispute") ? "disputed" : "refunded";
      await tx.update(orders).set({ status, stripePaymentIntentId: input.paymentIntentId, updatedAt: new Date() }).where(eq(orders.id, order.id));
      return "reversed-before-payment";
    }
  }
  if (input.amountTotal !== null && (input.amountTotal !== order.totalCents || (input.currency ?? order.currency) !== order.currency)) {
    // Stripe charged what the session asked, and the session was made from this order: a mismatch
    // is a bug worth stopping for (the webhook answers 500 and Stripe retries after a fix).
    throw new Error(`order ${order.id}: Stripe charged ${input.amountTotal} ${input.currency}, the order is ${order.totalCents} ${order.currency}`);
  }

  const now = new Date();
  await tx
    .update(orders)
    .set({ status: "paid", paidAt: now, updatedAt: now, stripePaymentIntentId: input.paymentIntentId, stripeCheckoutSessionId: order.stripeCheckoutSessionId ?? input.sessionId })
    .where(eq(orders.id, order.id));

  const items = await tx.select().from(orderItems).where(eq(orderItems.orderId, order.id));
  // Row locks: a takedown or withdrawal waits for this settlement, and so does another settlement of this buyer.
  const states = await tx
    .select({ id: images.id, status: images.status, withdrawnAt: images.withdrawnAt, takenDownAt: images.takenDownAt })
    .from(images)
    .where(
      inArray(
        images.id,
        items.map((item) => item.imageId),
      ),
    )
    .for("share");
  await tx.select({ id: users.id }).from(users).where(eq(users.id, order.buyerId)).for("update");
  const held = await heldLicenses(
    tx,
    order.buyerId,
    items.map((item) => item.imageId),
  );
  const refusal = (item: (typeof items)[number]): ItemRefusal | null => {
    const image = states.find((state) => state.id === item.imageId);
    if (!image) return "not-listed";
    if (!isListed(image)) return notListedReason(image);
    return holding(held, item) ? "already-licensed" : null;
  };
  const refused = items.map((item) => ({ item, reason: refusal(item) })).filter((r): r is { item: (typeof items)[number]; reason: ItemRefusal } => r.reason !== null);
  for (const { item, reason } of refused) await tx.update(orderItems).set({ refusedReason: reason }).where(eq(orderItems.id, item.id));
  const refundDue = sumCents(refused.map((r) => r.item.priceCents));
  if (refundDue > 0) await tx.update(orders).set({ refundDueCents: refundDue }).where(eq(orders.id, order.id));
  const licensable = items.filter((item) => !refused.some((r) => r.item.id === item.id));

  const issued =
    licensable.length === 0
      ? []
      : await tx
          .insert(licenses)
          .values(
            licensable.map((item) => ({
              buyerId: order.buyerId,
              imageId: item.imageId,
              orderItemId: item.id,
              licenseType: item.licenseType,
              priceCents: item.priceCents,
              currency: item.currency,
              stripePaymentIntentId: input.paymentIntentId,
              stripeChargeId: input.chargeId ?? null,
            })),
          )
          .onConflictDoNothing()
          .returning({ id: licenses.id, imageId: licenses.imageId, orderItemId: licenses.orderItemId, grossCents: licenses.priceCents, currency: licenses.currency });
  await recordEarnings(tx, config, issued);

  if (issued.length > 0) {
    await tx
      .update(images)
      .set({ saleCount: sql`${images.saleCount} + 1` })
      .where(
        inArray(
          images.id,
          issued.map((license) => license.imageId),
        ),
      );
  }
  await tx.execute(sql`
    delete from cart_items ci using carts c
    where c.id = ci.cart_id and c.buyer_id = ${order.buyerId}
      and (ci.image_id, ci.license_type) in (select image_id, license_type from order_items where order_id = ${order.id})`);
  return "paid";
}

/**
 * Returns through Stripe what paid orders could not license (see {@link settleOrder}): one refund
 * per order under an idempotency key, so a repeat (the webhook right after settling, then the
 * hourly sweep) never refunds twice. The charge.refunded webhook that follows marks the order
 * partially refunded (or refunded, when nothing could be licensed).
 */
export async function refundRefusedItems(deps: { db: Database; config: Config }, orderIds?: string[]): Promise<number> {
  const due = await deps.db
    .select({ id: orders.id, paymentIntentId: orders.stripePaymentIntentId, amount: orders.refundDueCents })
    .from(orders)
    .where(and(gt(orders.refundDueCents, 0), isNull(orders.autoRefundId), isNotNull(orders.stripePaymentIntentId), orderIds ? inArray(orders.id, orderIds) : undefined))
    .limit(100);
  for (const order of due) {
    const refund = await stripeClient(deps.config).refunds.create(
      {
        payment_intent: order.paymentIntentId as string,
        amount: order.amount,
        metadata: { order_id: order.id, reason: "items that could not be licensed when the payment arrived" },
      },
      { idempotencyKey: `auto-refund-${order.id}` },
    );
    await deps.db
      .update(orders)
      .set({ autoRefundId: refund.id, updatedAt: new Date() })
      .where(and(eq(orders.id, order.id), isNull(orders.autoRefundId)));
  }
  return due.length;
}

/** An order whose payment failed (async payment methods) or whose session expired unpaid. */
export async function closeUnpaidOrder(tx: Transaction, input: { orderId: string | null; sessionId: string; status: "failed" | "canceled"; paymentIntentId?: string | null }) {
  const order = await findOrder(tx, input.orderId, input.sessionId);
  if (!order) return "unknown-order";
  if (order.status !== "pending") return "already-settled";
  await tx
    .update(orders)
    .set({ status: input.status, updatedAt: new Date(), ...(input.paymentIntentId ? { stripePaymentIntentId: input.paymentIntentId } : {}) })
    .where(eq(orders.id, order.id));
  return input.status;
}

/** Remembers the payment intent of a completed session whose (async) payment is still settling. */
export async function notePaymentIntent(tx: Transaction, input: { orderId: string | null; sessionId: string; paymentIntentId: string | null }) {
  const order = await findOrder(tx, input.orderId, input.sessionId);
  if (!order) return "unknown-order";
  if (input.paymentIntentId && !order.stripePaymentIntentId) {
    await tx.update(orders).set({ stripePaymentIntentId: input.paymentIntentId, updatedAt: new Date() }).where(eq(orders.id, order.id));
  }
  return "awaiting-payment";
}

export type ReversalInput = {
  kind: ReversalKind;
  paymentIntentId: string;
  chargeId: string | null;
  stripeObjectId: string | null;
  amountCents: number;
};

/**
 * A full refund or a dispute: recorded against the payment intent (so an order settled later sees
 * it), then the order's licenses are revoked and their earnings reversed. A sale not yet paid out
 * is marked reversed together with its reversal (they cancel out); one already paid gets an
 * available negative reversal, which the next payout deducts.
 */
export async function reversePayment(tx: Transaction, input: ReversalInput): Promise<{ outcome: string; revoked: number }> {
  await tx
    .insert(paymentReversals)
    .values({
      stripePaymentIntentId: input.paymentIntentId,
      kind: input.kind,
      stripeChargeId: input.chargeId,
      stripeObjectId: input.stripeObjectId,
      amountCents: input.amountCents,
    })
    .onConflictDoNothing();
  const [order] = await tx.select().from(orders).where(eq(orders.stripePaymentIntentId, input.paymentIntentId)).for("update");
  if (!order) return { outcome: "recorded-for-later", revoked: 0 };
  const status = input.kind === "dispute" ? "disputed" : "refunded";
  if (order.status === "paid" || order.status === "partially_refunded") {
    await tx.update(orders).set({ status, updatedAt: new Date() }).where(eq(orders.id, order.id));
  }
  const revoked = await tx
    .update(licenses)
    .set({ revokedAt: new Date(), revokedReason: input.kind })
    .where(and(sql`${licenses.orderItemId} in (select id from order_items where order_id = ${order.id})`, sql`${licenses.revokedAt} is null`))
    .returning({ id: licenses.id });
  await reverseEarnings(tx, { orderId: order.id });
  return { outcome: status, revoked: revoked.length };
}

/** Reverses the sale earnings of an order's licenses that have not been reversed yet. */
async function reverseEarnings(tx: Transaction, { orderId }: { orderId: string }) {
  const sales = await tx
    .select()
    .from(contributorEarnings)
    .where(and(eq(contributorEarnings.kind, "sale"), sql`${contributorEarnings.orderItemId} in (select id from order_items where order_id = ${orderId})`))
    .for("update");
  const now = new Date();
  for (const sale of sales) {
    const unpaid = (sale.status === "pending" || sale.status === "available") && sale.payoutId === null;
    const [reversal] = await tx
      .insert(contributorEarnings)
      .values({
        contributorId: sale.contributorId,
        licenseId: sale.licenseId,
        orderItemId: sale.orderItemId,
        imageId: sale.imageId,
        kind: "reversal",
        grossCents: -sale.grossCents,
        shareBps: sale.shareBps,
        amountCents: -sale.amountCents,
        currency: sale.currency,
        status: unpaid ? "reversed" : "available",
        availableAt: now,
        reversalOf: sale.id,
      })
      .onConflictDoNothing()
      .returning({ id: contributorEarnings.id });
    if (reversal && unpaid) await tx.update(contributorEarnings).set({ status: "reversed" }).where(eq(contributorEarnings.id, sale.id));
  }
}

/** A partial refund: the order is marked, licenses stay (an admin revokes by hand if needed). */
export async function notePartialRefund(tx: Transaction, paymentIntentId: string) {
  const updated = await tx
    .update(orders)
    .set({ status: "partially_refunded", updatedAt: new Date() })
    .where(and(eq(orders.stripePaymentIntentId, paymentIntentId), eq(orders.status, "paid")))
    .returning({ id: orders.id });
  return updated.length > 0 ? "partially-refunded" : "ignored";
}
