import { sql } from "drizzle-orm";
import { type AnyPgColumn, check, index, integer, pgEnum, pgTable, text, unique, uuid } from "drizzle-orm/pg-core";
import { CURRENCY_DEFAULT, id, tstz } from "./columns";
import { images } from "./images";
import { licenses } from "./licenses";
import { orderItems } from "./orders";
import { payouts } from "./payouts";
import { users } from "./users";

export const earningStatus = pgEnum("earning_status", ["pending", "available", "paid", "reversed"]);

export const EARNING_KINDS = ["sale", "reversal"] as const;
export type EarningKind = (typeof EARNING_KINDS)[number];

/**
 * The contributor's share of each license, as a ledger: a refund adds a negative `reversal` row
 * pointing at the sale instead of editing it, and unique (license_id, kind) allows one sale and at
 * most one reversal per license. `available_at` holds earnings back until the refund window closes.
 */
export const contributorEarnings = pgTable(
  "contributor_earnings",
  {
    id: id(),
    contributorId: uuid("contributor_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    licenseId: uuid("license_id")
      .notNull()
      .references(() => licenses.id, { onDelete: "restrict" }),
    /** Null for subscription downloads, which have no order. */
    orderItemId: uuid("order_item_id").references(() => orderItems.id, { onDelete: "restrict" }),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "restrict" }),
    kind: text("kind").$type<EarningKind>().notNull().default("sale"),
    /** What the buyer paid (or the per-download value of a subscription credit). */
    grossCents: integer("gross_cents").notNull(),
    /** Contributor share in basis points (5000 = 50%), frozen at sale time. */
    shareBps: integer("share_bps").notNull(),
    /** Negative for reversals. */
    amountCents: integer("amount_cents").notNull(),
    currency: text("currency").notNull().default(CURRENCY_DEFAULT),
    status: earningStatus("status").notNull().default("pending"),
    availableAt: tstz("available_at"),
    payoutId: uuid("payout_id").references(() => payouts.id, { onDelete: "restrict" }),
    reversalOf: uuid("reversal_of").references((): AnyPgColumn => contributorEarnings.id, {
      onDelete: "restrict",
    }),
    createdAt: tstz("created_at").notNull().defaultNow(),
  },
  (t) => [
    unique("contributor_earnings_license_kind_key").on(t.licenseId, t.kind),
    check("contributor_earnings_kind_check", sql`kind in ('sale', 'reversal')`),
    check("contributor_earnings_share_check", sql`share_bps between 0 and 10000`),
    index("contributor_earnings_contributor_idx").on(t.contributorId, t.createdAt),
    index("contributor_earnings_status_available_idx").on(t.status, t.availableAt),
    index("contributor_earnings_payout_idx").on(t.payoutId),
  ],
);

export type ContributorEarning = typeof contributorEarnings.$inferSelect;
export type EarningStatus = (typeof earningStatus.enumValues)[number];
