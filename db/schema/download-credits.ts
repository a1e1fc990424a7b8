import { sql } from "drizzle-orm";
import { bigserial, check, index, integer, pgTable, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { tstz } from "./columns";
import { images } from "./images";
import { licenses } from "./licenses";
import { subscriptions } from "./subscriptions";
import { users } from "./users";

export const CREDIT_REASONS = ["grant", "consume", "expire", "adjust"] as const;
export type CreditReason = (typeof CREDIT_REASONS)[number];

/**
 * Download-credit ledger: the balance is `sum(delta)`, never a mutable counter, so every change
 * is explained. The partial unique index makes the per-period grant idempotent under webhook replays.
 */
export const downloadCredits = pgTable(
  "download_credits",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    subscriptionId: uuid("subscription_id").references(() => subscriptions.id, { onDelete: "restrict" }),
    /** Positive for grants, negative for consumption and expiry. */
    delta: integer("delta").notNull(),
    reason: text("reason").$type<CreditReason>().notNull(),
    imageId: uuid("image_id").references(() => images.id, { onDelete: "restrict" }),
    licenseId: uuid("license_id").references(() => licenses.id, { onDelete: "restrict" }),
    /** Start of the billing period the row belongs to. */
    periodStart: tstz("period_start"),
    createdAt: tstz("created_at").notNull().defaultNow(),
  },
  (t) => [
    check("download_credits_reason_check", sql`reason in ('grant', 'consume', 'expire', 'adjust')`),
    uniqueIndex("download_credits_grant_key").on(t.subscriptionId, t.periodStart).where(sql`reason = 'grant'`),
    index("download_credits_user_idx").on(t.userId, t.createdAt),
  ],
);

export type DownloadCredit = typeof downloadCredits.$inferSelect;
