import { index, integer, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { CURRENCY_DEFAULT, id, tstz } from "./columns";
import { images } from "./images";
import { licenseType } from "./license-prices";
import { orderItems } from "./orders";
import { subscriptions } from "./subscriptions";
import { users } from "./users";

/**
 * The right to download and use an image: issued once per paid order item (unique) or per
 * subscription credit spent. Never deleted; a refund or dispute sets `revoked_at`.
 */
export const licenses = pgTable(
  "licenses",
  {
    id: id(),
    buyerId: uuid("buyer_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "restrict" }),
    orderItemId: uuid("order_item_id")
      .references(() => orderItems.id, { onDelete: "restrict" })
      .unique("licenses_order_item_key"),
    subscriptionId: uuid("subscription_id").references(() => subscriptions.id, { onDelete: "restrict" }),
    licenseType: licenseType("license_type").notNull(),
    /** What the buyer paid for this license; 0 for subscription downloads. */
    priceCents: integer("price_cents").notNull(),
    currency: text("currency").notNull().default(CURRENCY_DEFAULT),
    /** Kept so a refund or dispute webhook can find the licenses it revokes. */
    stripePaymentIntentId: text("stripe_payment_intent_id"),
    stripeChargeId: text("stripe_charge_id"),
    issuedAt: tstz("issued_at").notNull().defaultNow(),
    revokedAt: tstz("revoked_at"),
    /** refund | dispute | fraud | admin */
    revokedReason: text("revoked_reason"),
  },
  (t) => [index("licenses_buyer_image_idx").on(t.buyerId, t.imageId), index("licenses_image_idx").on(t.imageId), index("licenses_payment_intent_idx").on(t.stripePaymentIntentId)],
);

export type License = typeof licenses.$inferSelect;
