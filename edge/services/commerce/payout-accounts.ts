import { and, eq, isNull, sql } from "drizzle-orm";
import * as v from "valibot";
import type { Database, Transaction } from "../../../db/connect";
import { users } from "../../../db/schema";
import type { PublicUrls } from "../../adapters/public-urls";
import { providerError, type Stripe, stripeClient } from "../../adapters/stripe";
import type { Config } from "../../config";
import { ApiError } from "../../lib/problem";
import { stripeTime } from "./stripe-objects";

/**
 * Stripe Connect Express for contributor payouts: one connected account per contributor, created
 * on first request (idempotently), an onboarding link to Stripe's hosted form, and readiness kept
 * from account.updated webhooks. Payouts only go to accounts Stripe says can receive them.
 */

export const PayoutSettingsSchema = v.object({
  accountId: v.nullable(v.string()),
  payoutsEnabled: v.boolean(),
  onboardingUrl: v.nullable(v.string()),
  onboardingExpiresAt: v.nullable(v.string()),
});
export type PayoutSettings = v.InferOutput<typeof PayoutSettingsSchema>;

export async function payoutSettings(db: Database, contributorId: string): Promise<PayoutSettings> {
  const [user] = await db.select({ accountId: users.stripeConnectAccountId, payoutsEnabled: users.payoutsEnabled }).from(users).where(eq(users.id, contributorId));
  if (!user) throw new ApiError("unauthenticated");
  return { accountId: user.accountId, payoutsEnabled: user.payoutsEnabled, onboardingUrl: null, onboardingExpiresAt: null };
}

/**
 * Creates the contributor's Express account if needed and returns a fresh onboarding link. Stripe
 * returns the contributor to the studio's payouts page, where the status shows.
 */
export async function startOnboarding(deps: { db: Database; config: Config; urls: PublicUrls }, contributorId: string): Promise<PayoutSettings> {
  const back = "/studio/payouts";
  const { db, config } = deps;
  const stripe = stripeClient(config);
  const [user] = await db.select().from(users).where(eq(users.id, contributorId));
  if (!user) throw new ApiError("unauthenticated");
  let accountId = user.stripeConnectAccountId;
  try {
    if (!accountId) {
      const account = await stripe.accounts.create(
        { type: "express", email: user.email, metadata: { user_id: user.id }, capabilities: { transfers: { requested: true } } },
        { idempotencyKey: `connect-account-${user.id}` },
      );
      await db
        .update(users)
        .set({ stripeConnectAccountId: account.id, updatedAt: new Date() })
        .where(and(eq(users.id, user.id), isNull(users.stripeConnectAccountId)));
      const [stored] = await db.select({ accountId: users.stripeConnectAccountId }).from(users).where(eq(users.id, user.id));
      accountId = stored?.accountId ?? account.id;
    }
    const link = await stripe.accountLinks.create({
      account: accountId,
      type: "account_onboarding",
      refresh_url: `${deps.urls.app}${back}?refresh=1`,
      return_url: `${deps.urls.app}${back}?done=1`,
    });
    return { accountId, payoutsEnabled: user.payoutsEnabled, onboardingUrl: link.url, onboardingExpiresAt: stripeTime(link.expires_at).toISOString() };
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw providerError(error);
  }
}

/** account.updated: payout readiness, unless a newer event was applied already. */
export async function applyAccountUpdate(tx: Transaction, account: Stripe.Account, eventCreated: Date): Promise<string> {
  const ready = Boolean(account.payouts_enabled && account.details_submitted);
  const updated = await tx
    .update(users)
    .set({ payoutsEnabled: ready, connectEventAt: eventCreated, updatedAt: new Date() })
    .where(and(eq(users.stripeConnectAccountId, account.id), sql`(${users.connectEventAt} is null or ${users.connectEventAt} <= ${eventCreated.toISOString()}::timestamptz)`))
    .returning({ id: users.id });
  if (updated.length > 0) return ready ? "payouts-enabled" : "payouts-disabled";
  const [known] = await tx.select({ id: users.id }).from(users).where(eq(users.stripeConnectAccountId, account.id));
  return known ? "stale-event-ignored" : "unknown-account";
}
