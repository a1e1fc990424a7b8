import { boolean, index, integer, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { CURRENCY_DEFAULT, id, timestamps, tstz } from "./columns";
import { users } from "./users";

/** Subscription tiers; each grants `monthly_credits` downloads per billing period. */
export const subscriptionPlans = pgTable("subscription_plans", {
  /** Stable slug, e.g. basic-25. */
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  monthlyCredits: integer("monthly_credits").notNull(),
  priceCents: integer("price_cents").notNull(),
  currency: text("currency").notNull().default(CURRENCY_DEFAULT),
  stripePriceId: text("stripe_price_id"),
  /** Inactive plans stay for existing subscribers but are no longer offered. */
  active: boolean("active").notNull().default(true),
});

/** A user's Stripe subscription, mirrored from Stripe webhooks. */
export const subscriptions = pgTable(
  "subscriptions",
  {
    id: id(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    planId: text("plan_id")
      .notNull()
      .references(() => subscriptionPlans.id, { onDelete: "restrict" }),
    stripeSubscriptionId: text("stripe_subscription_id").unique("subscriptions_stripe_subscription_key"),
    /** Stripe's status verbatim (active, past_due, canceled, ...): Stripe owns that list. */
    status: text("status").notNull(),
    currentPeriodStart: tstz("current_period_start"),
    currentPeriodEnd: tstz("current_period_end"),
    cancelAtPeriodEnd: boolean("cancel_at_period_end").notNull().default(false),
    /** `created` of the last subscription event applied: an older event arriving late is ignored. */
    stripeEventAt: tstz("stripe_event_at"),
    ...timestamps,
  },
  (t) => [index("subscriptions_user_idx").on(t.userId)],
);

export type SubscriptionPlan = typeof subscriptionPlans.$inferSelect;
export type Subscription = typeof subscriptions.$inferSelect;
