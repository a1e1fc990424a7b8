import { sql } from "drizzle-orm";
import { check, integer, pgTable, text, unique, uuid } from "drizzle-orm/pg-core";
import { CURRENCY_DEFAULT, id, timestamps } from "./columns";
import { users } from "./users";

export const PAYOUT_STATUSES = ["pending", "in_transit", "paid", "failed"] as const;
export type PayoutStatus = (typeof PAYOUT_STATUSES)[number];

/**
 * A monthly Stripe Connect transfer to a contributor. Unique per (contributor, period) so a rerun
 * of the payout job cannot pay a month twice.
 */
export const payouts = pgTable(
  "payouts",
  {
    id: id(),
    contributorId: uuid("contributor_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    /** Calendar month paid out, `YYYY-MM`. */
    period: text("period").notNull(),
    amountCents: integer("amount_cents").notNull(),
    currency: text("currency").notNull().default(CURRENCY_DEFAULT),
    status: text("status").$type<PayoutStatus>().notNull().default("pending"),
    stripeTransferId: text("stripe_transfer_id").unique("payouts_stripe_transfer_key"),
    /** Why the transfer failed (Stripe's message), when status is failed. */
    failureReason: text("failure_reason"),
    ...timestamps,
  },
  (t) => [
    unique("payouts_contributor_period_key").on(t.contributorId, t.period),
    check("payouts_status_check", sql`status in ('pending', 'in_transit', 'paid', 'failed')`),
    check("payouts_period_check", sql`period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'`),
  ],
);

export type Payout = typeof payouts.$inferSelect;
