import { sql } from "drizzle-orm";
import { index, integer, pgEnum, pgTable, text, unique, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { CURRENCY_DEFAULT, id, timestamps, tstz } from "./columns";
import { images } from "./images";
import { licenseType } from "./license-prices";
import { users } from "./users";

export const orderStatus = pgEnum("order_status", ["pending", "paid", "failed", "refunded", "partially_refunded", "disputed", "canceled"]);

/**
 * A checkout. Idempotency: the Stripe Checkout Session and PaymentIntent ids are unique, so a
 * replayed webhook finds the order it already settled instead of paying it twice, and a repeated
 * checkout POST is answered from idempotency_keys with the same session.
 */
export const orders = pgTable(
  "orders",
  {
    id: id(),
    buyerId: uuid("buyer_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    status: orderStatus("status").notNull().default("pending"),
    totalCents: integer("total_cents").notNull(),
    currency: text("currency").notNull().default(CURRENCY_DEFAULT),
    stripeCheckoutSessionId: text("stripe_checkout_session_id").unique("orders_stripe_checkout_session_key"),
    stripePaymentIntentId: text("stripe_payment_intent_id").unique("orders_stripe_payment_intent_key"),
    paidAt: tstz("paid_at"),
    /**
     * What the payment covered but could not be licensed when it arrived (an item the buyer
     * already held, or an image taken down or withdrawn after checkout): refunded automatically.
     */
    refundDueCents: integer("refund_due_cents").notNull().default(0),
    /** The Stripe refund that returned `refundDueCents`, once made. */
    autoRefundId: text("auto_refund_id"),
    ...timestamps,
  },
  (t) => [
    index("orders_buyer_created_idx").on(t.buyerId, t.createdAt),
    // One cart, one open order: a second checkout reuses or replaces the open one, never adds to it.
    uniqueIndex("orders_one_pending_per_buyer").on(t.buyerId).where(sql`status = 'pending'`),
  ],
);

/** One licensed image in an order, with the price frozen at checkout. */
export const orderItems = pgTable(
  "order_items",
  {
    id: id(),
    orderId: uuid("order_id")
      .notNull()
      .references(() => orders.id, { onDelete: "restrict" }),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "restrict" }),
    licenseType: licenseType("license_type").notNull(),
    priceCents: integer("price_cents").notNull(),
    currency: text("currency").notNull().default(CURRENCY_DEFAULT),
    /** Why the paid item issued no license ("already-licensed", "taken-down", "withdrawn", "not-listed"); it is refunded. */
    refusedReason: text("refused_reason"),
  },
  (t) => [unique("order_items_order_image_type_key").on(t.orderId, t.imageId, t.licenseType), index("order_items_image_idx").on(t.imageId)],
);

export type Order = typeof orders.$inferSelect;
export type OrderItem = typeof orderItems.$inferSelect;
export type OrderStatus = (typeof orderStatus.enumValues)[number];
