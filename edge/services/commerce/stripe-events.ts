import { and, eq } from "drizzle-orm";
import * as v from "valibot";
import type { Logger } from "../../../common/log";
import type { Database, Transaction } from "../../../db/connect";
import { processedWebhookEvents } from "../../../db/schema";
import { type Stripe, verifyWebhook } from "../../adapters/stripe";
import type { Config } from "../../config";
import * as s from "../../lib/schemas";
import { applyAccountUpdate } from "./payout-accounts";
import { closeUnpaidOrder, notePartialRefund, notePaymentIntent, refundRefusedItems, reversePayment, settleOrder } from "./settlement";
import { stripeId, stripeTime } from "./stripe-objects";
import { grantPeriodCredits, syncSubscription } from "./subscriptions";

export const WebhookResultSchema = v.object({ eventId: v.string(), type: v.string(), duplicate: v.boolean(), outcome: v.string() });
export type WebhookResult = v.InferOutput<typeof WebhookResultSchema>;

/** What the webhook endpoint answers Stripe: the event was received, and what handling it did. */
export const WebhookReceiptSchema = v.object({ received: v.literal(true), ...WebhookResultSchema.entries });
export type WebhookReceipt = v.InferOutput<typeof WebhookReceiptSchema>;

export type StripeEventDeps = { db: Database; config: Config; log: Logger };

/**
 * Handles one verified Stripe event exactly once. The event id is claimed in
 * processed_webhook_events inside the same transaction as its effects: a redelivery (or a second
 * delivery racing the first, which waits on the claimed row) finds it and does nothing, and a
 * handler that fails rolls the claim back with everything else, so Stripe's retry runs it again.
 * Unknown event types and objects that are not ours are acknowledged and ignored.
 */
async function handleStripeEvent(deps: StripeEventDeps, event: Stripe.Event): Promise<WebhookReceipt> {
  const result = await claimAndApply(deps, event);
  // What a settled payment could not license goes back at once; the hourly sweep retries a failure.
  if (!result.duplicate && result.outcome === "paid") {
    const session = event.data.object as Stripe.Checkout.Session;
    const orderId = sessionRef(session).orderId;
    await refundRefusedItems(deps, orderId && v.is(s.uuid, orderId) ? [orderId] : []).catch((error: Error) =>
      deps.log.error("automatic refund failed; the maintenance sweep retries it", { eventId: event.id, error: error.message }),
    );
  }
  deps.log.info("stripe event", result);
  return { received: true, ...result };
}

/** Verifies a webhook delivery (raw body and Stripe-Signature header) and handles its event. */
export async function receiveStripeWebhook(deps: StripeEventDeps, rawBody: string, signature: string | undefined): Promise<WebhookReceipt> {
  return handleStripeEvent(deps, await verifyWebhook(deps.config, rawBody, signature));
}

async function claimAndApply(deps: StripeEventDeps, event: Stripe.Event): Promise<WebhookResult> {
  return deps.db.transaction(async (tx) => {
    const [claimed] = await tx
      .insert(processedWebhookEvents)
      .values({ provider: "stripe", eventId: event.id, eventType: event.type })
      .onConflictDoNothing()
      .returning({ eventId: processedWebhookEvents.eventId });
    if (!claimed) return { eventId: event.id, type: event.type, duplicate: true, outcome: "duplicate" };
    const outcome = await dispatch(tx, deps.config, event);
    await tx
      .update(processedWebhookEvents)
      .set({ processedAt: new Date() })
      .where(and(eq(processedWebhookEvents.provider, "stripe"), eq(processedWebhookEvents.eventId, event.id)));
    return { eventId: event.id, type: event.type, duplicate: false, outcome };
  });
}

function sessionRef(session: Stripe.Checkout.Session) {
  return { orderId: session.metadata?.order_id ?? session.client_reference_id ?? null, sessionId: session.id, paymentIntentId: stripeId(session.payment_intent) };
}

async function dispatch(tx: Transaction, config: Config, event: Stripe.Event): Promise<string> {
  const created = stripeTime(event.created);
  switch (event.type) {
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded": {
      const session = event.data.object;
      if (session.mode !== "payment") return "subscription-checkout-completed";
      if (session.payment_status === "unpaid") return notePaymentIntent(tx, sessionRef(session));
      return settleOrder(tx, config, { ...sessionRef(session), amountTotal: session.amount_total, currency: session.currency });
    }
    case "checkout.session.async_payment_failed": {
      const session = event.data.object;
      return session.mode === "payment" ? closeUnpaidOrder(tx, { ...sessionRef(session), status: "failed" }) : "ignored";
    }
    case "checkout.session.expired": {
      const session = event.data.object;
      return session.mode === "payment" ? closeUnpaidOrder(tx, { ...sessionRef(session), status: "canceled" }) : "ignored";
    }
    case "charge.refunded": {
      const charge = event.data.object;
      const paymentIntentId = stripeId(charge.payment_intent);
      if (!paymentIntentId) return "ignored";
      if (!charge.refunded) return notePartialRefund(tx, paymentIntentId);
      const result = await reversePayment(tx, { kind: "refund", paymentIntentId, chargeId: charge.id, stripeObjectId: charge.id, amountCents: charge.amount_refunded });
      return result.outcome;
    }
    case "charge.dispute.created": {
      const dispute = event.data.object;
      const paymentIntentId = stripeId(dispute.payment_intent);
      if (!paymentIntentId) return "ignored";
      const result = await reversePayment(tx, { kind: "dispute", paymentIntentId, chargeId: stripeId(dispute.charge), stripeObjectId: dispute.id, amountCents: dispute.amount });
      return result.outcome;
    }
    case "customer.subscription.created":
    case "customer.subscription.updated":
    case "customer.subscription.deleted":
      return syncSubscription(tx, event.data.object, created);
    case "invoice.paid":
      return grantPeriodCredits(tx, event.data.object);
    case "account.updated":
      return applyAccountUpdate(tx, event.data.object, created);
    default:
      return "ignored";
  }
}
