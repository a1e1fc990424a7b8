import { sql } from "drizzle-orm";
import { boolean, pgEnum, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { id, timestamps, tstz } from "./columns";

export const userRole = pgEnum("user_role", ["buyer", "contributor", "admin"]);

export const users = pgTable(
  "users",
  {
    id: id(),
    /** Stored lower-cased and trimmed; unique. */
    email: text("email").notNull(),
    /** Self-describing hash string, e.g. `pbkdf2-sha256$100000$<salt>$<hash>`. */
    passwordHash: text("password_hash").notNull(),
    role: userRole("role").notNull().default("buyer"),
    displayName: text("display_name").notNull(),
    stripeCustomerId: text("stripe_customer_id"),
    stripeConnectAccountId: text("stripe_connect_account_id"),
    /** Stripe Connect says the account can receive payouts (details submitted, payouts enabled). */
    payoutsEnabled: boolean("payouts_enabled").notNull().default(false),
    /** `created` of the last account.updated event applied: an older event arriving late is ignored. */
    connectEventAt: tstz("connect_event_at"),
    /** Contributor revenue-share tier (see contributor earnings). */
    contributorTier: text("contributor_tier").notNull().default("standard"),
    disabledAt: tstz("disabled_at"),
    ...timestamps,
  },
  (t) => [
    uniqueIndex("users_email_key").on(t.email),
    uniqueIndex("users_stripe_customer_key").on(t.stripeCustomerId).where(sql`stripe_customer_id is not null`),
    uniqueIndex("users_stripe_connect_key").on(t.stripeConnectAccountId).where(sql`stripe_connect_account_id is not null`),
  ],
);

export type User = typeof users.$inferSelect;
export type UserRole = (typeof userRole.enumValues)[number];
