import { sql } from "drizzle-orm";
import { check, integer, pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { tstz } from "./columns";

export const REVERSAL_KINDS = ["refund", "dispute"] as const;
export type ReversalKind = (typeof REVERSAL_KINDS)[number];

/**
 * Money taken back from a payment (a full refund or a dispute), recorded by payment intent as the
 * webhook reports it, whether or not the order it belongs to is known yet. Settling an order checks
 * this table, so a refund delivered before checkout.session.completed still wins: webhooks can
 * arrive in any order and the outcome is the same.
 */
export const paymentReversals = pgTable(
  "payment_reversals",
  {
    stripePaymentIntentId: text("stripe_payment_intent_id").notNull(),
    kind: text("kind").$type<ReversalKind>().notNull(),
    stripeChargeId: text("stripe_charge_id"),
    /** The refund or dispute object id (re_..., dp_...). */
    stripeObjectId: text("stripe_object_id"),
    amountCents: integer("amount_cents").notNull(),
    createdAt: tstz("created_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.stripePaymentIntentId, t.kind] }), check("payment_reversals_kind_check", sql`kind in ('refund', 'dispute')`)],
);

export type PaymentReversal = typeof paymentReversals.$inferSelect;
