import { and, desc, eq, gt, inArray, sql } from "drizzle-orm";
import type { Queryable, Transaction } from "../../../db/connect";
import { downloadCredits, subscriptionPlans, subscriptions, users } from "../../../db/schema";
import type { Stripe } from "../../adapters/stripe";
import { stripeId, stripeTimeOrNull } from "./stripe-objects";

/**
 * Subscriptions mirror Stripe: customer.subscription.* events write the row (an event older than
 * the last one applied is ignored, so late deliveries cannot roll state back) and invoice.paid
 * opens a billing period: last period's unused credits expire and the plan's credits are granted,
 * once per period (unique grant per subscription and period start).
 */

/** Statuses under which a Stripe subscription still grants downloads. */
export const LIVE_SUBSCRIPTION_STATUSES = ["active", "trialing"] as const;

/** Plan and user of a Stripe subscription: from its metadata (set at checkout), else by customer and price. */
async function resolveOwner(tx: Transaction, input: { metadata: Record<string, string> | null | undefined; customer: string | null; priceId: string | null }) {
  let userId = input.metadata?.user_id ?? null;
  let planId = input.metadata?.plan_id ?? null;
  if (!userId && input.customer) {
    const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.stripeCustomerId, input.customer));
    userId = user?.id ?? null;
  }
  if (!planId && input.priceId) {
    const [plan] = await tx.select({ id: subscriptionPlans.id }).from(subscriptionPlans).where(eq(subscriptionPlans.stripePriceId, input.priceId));
    planId = plan?.id ?? null;
  }
  if (!userId || !planId) return null;
  const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, userId));
  const [plan] = await tx.select({ id: subscriptionPlans.id }).from(subscriptionPlans).where(eq(subscriptionPlans.id, planId));
  return user && plan ? { userId, planId } : null;
}

/** Applies a customer.subscription.created/updated/deleted event. */
export async function syncSubscription(tx: Transaction, subscription: Stripe.Subscription, eventCreated: Date): Promise<string> {
  const item = subscription.items?.data?.[0];
  const owner = await resolveOwner(tx, { metadata: subscription.metadata, customer: stripeId(subscription.customer), priceId: item?.price?.id ?? null });
  if (!owner) return "unknown-subscription";
  const legacy = subscription as unknown as { current_period_start?: number; current_period_end?: number };
  const values = {
    userId: owner.userId,
    planId: owner.planId,
    stripeSubscriptionId: subscription.id,
    status: subscription.status,
    currentPeriodStart: stripeTimeOrNull(item?.current_period_start ?? legacy.current_period_start),
    currentPeriodEnd: stripeTimeOrNull(item?.current_period_end ?? legacy.current_period_end),
    cancelAtPeriodEnd: subscription.cancel_at_period_end ?? false,
    stripeEventAt: eventCreated,
    updatedAt: new Date(),
  };
  const written = await tx
    .insert(subscriptions)
    .values(values)
    .onConflictDoUpdate({
      target: subscriptions.stripeSubscriptionId,
      set: {
        status: values.status,
        planId: values.planId,
        currentPeriodStart: values.currentPeriodStart,
        currentPeriodEnd: values.currentPeriodEnd,
        cancelAtPeriodEnd: values.cancelAtPeriodEnd,
        stripeEventAt: values.stripeEventAt,
        updatedAt: values.updatedAt,
      },
      setWhere: sql`${subscriptions.stripeEventAt} is null or ${subscriptions.stripeEventAt} <= ${eventCreated.toISOString()}::timestamptz`,
    })
    .returning({ id: subscriptions.id });
  return written.length > 0 ? subscription.status : "stale-event-ignored";
}

/** The subscription an invoice bills, in the current (parent.subscription_details) or the older (invoice.subscription) shape. */
function invoiceSubscription(invoice: Stripe.Invoice): { id: string; metadata: Record<string, string> | null } | null {
  const details = invoice.parent?.subscription_details;
  const legacy = (invoice as unknown as { subscription?: string | { id: string } | null }).subscription;
  const id = details ? stripeId(details.subscription as string | { id: string }) : stripeId(legacy ?? null);
  return id ? { id, metadata: (details?.metadata as Record<string, string> | null) ?? null } : null;
}

/**
 * invoice.paid: grants the plan's credits for the invoiced period, expiring what was left of the
 * previous one. If the subscription's own events have not arrived yet, a row is made from the
 * invoice (they fill in the rest when they do).
 */
export async function grantPeriodCredits(tx: Transaction, invoice: Stripe.Invoice): Promise<string> {
  const billed = invoiceSubscription(invoice);
  if (!billed) return "not-a-subscription-invoice";
  const line = invoice.lines?.data?.[0];
  const periodStart = stripeTimeOrNull(line?.period?.start ?? invoice.period_start);
  const periodEnd = stripeTimeOrNull(line?.period?.end ?? invoice.period_end);
  if (!periodStart) return "no-period";

  let [row] = await tx.select().from(subscriptions).where(eq(subscriptions.stripeSubscriptionId, billed.id)).for("update");
  if (!row) {
    const owner = await resolveOwner(tx, { metadata: billed.metadata, customer: stripeId(invoice.customer as string | null), priceId: null });
    if (!owner) return "unknown-subscription";
    await tx
      .insert(subscriptions)
      .values({ ...owner, stripeSubscriptionId: billed.id, status: "active", currentPeriodStart: periodStart, currentPeriodEnd: periodEnd })
      .onConflictDoNothing();
    [row] = await tx.select().from(subscriptions).where(eq(subscriptions.stripeSubscriptionId, billed.id)).for("update");
    if (!row) return "unknown-subscription";
  }
  const [granted] = await tx
    .select({ id: downloadCredits.id })
    .from(downloadCredits)
    .where(and(eq(downloadCredits.subscriptionId, row.id), eq(downloadCredits.reason, "grant"), eq(downloadCredits.periodStart, periodStart)));
  if (granted) return "already-granted";

  const [plan] = await tx.select().from(subscriptionPlans).where(eq(subscriptionPlans.id, row.planId));
  if (!plan) return "unknown-plan";
  const left = await creditBalance(tx, row.id);
  if (left > 0) {
    await tx.insert(downloadCredits).values({ userId: row.userId, subscriptionId: row.id, delta: -left, reason: "expire", periodStart: row.currentPeriodStart });
  }
  await tx.insert(downloadCredits).values({ userId: row.userId, subscriptionId: row.id, delta: plan.monthlyCredits, reason: "grant", periodStart });
  // The invoice is proof of a paid period even if the subscription's own event is late.
  if (!row.currentPeriodEnd || (periodEnd && periodEnd > row.currentPeriodEnd)) {
    await tx.update(subscriptions).set({ currentPeriodStart: periodStart, currentPeriodEnd: periodEnd, updatedAt: new Date() }).where(eq(subscriptions.id, row.id));
  }
  return "credits-granted";
}

/** Credits left on a subscription: the ledger's sum. */
export async function creditBalance(db: Queryable, subscriptionId: string): Promise<number> {
  const [row] = await db
    .select({ balance: sql<number>`coalesce(sum(${downloadCredits.delta}), 0)::int` })
    .from(downloadCredits)
    .where(eq(downloadCredits.subscriptionId, subscriptionId));
  return row?.balance ?? 0;
}

/** The user's subscription that can be used for downloads now (live status, period not over), if any. */
export async function liveSubscription(db: Queryable, userId: string, options: { lock?: boolean } = {}) {
  const query = db
    .select({ subscription: subscriptions, plan: subscriptionPlans })
    .from(subscriptions)
    .innerJoin(subscriptionPlans, eq(subscriptionPlans.id, subscriptions.planId))
    .where(and(eq(subscriptions.userId, userId), inArray(subscriptions.status, [...LIVE_SUBSCRIPTION_STATUSES]), gt(subscriptions.currentPeriodEnd, new Date())))
    .orderBy(desc(subscriptions.currentPeriodEnd))
    .limit(1);
  const [row] = options.lock ? await query.for("update", { of: subscriptions }) : await query;
  return row ?? null;
}
