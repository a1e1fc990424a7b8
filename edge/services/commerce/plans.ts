import { asc, eq } from "drizzle-orm";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { subscriptionPlans } from "../../../db/schema";
import { creditBalance, liveSubscription } from "./subscriptions";

export const PlanSchema = v.object({ id: v.string(), name: v.string(), monthlyCredits: v.number(), priceCents: v.number(), currency: v.string() });
export type PlanView = v.InferOutput<typeof PlanSchema>;

export const PlanListSchema = v.object({ plans: v.array(PlanSchema) });
export type PlanList = v.InferOutput<typeof PlanListSchema>;

export const SubscriptionStatusSchema = v.object({
  subscription: v.nullable(v.object({ plan: PlanSchema, status: v.string(), currentPeriodEnd: v.nullable(v.string()), cancelAtPeriodEnd: v.boolean(), creditsLeft: v.number() })),
});
export type SubscriptionStatus = v.InferOutput<typeof SubscriptionStatusSchema>;

const planColumns = {
  id: subscriptionPlans.id,
  name: subscriptionPlans.name,
  monthlyCredits: subscriptionPlans.monthlyCredits,
  priceCents: subscriptionPlans.priceCents,
  currency: subscriptionPlans.currency,
};

/** The plans on offer, cheapest first. */
export async function listPlans(db: Database): Promise<PlanList> {
  const plans = await db.select(planColumns).from(subscriptionPlans).where(eq(subscriptionPlans.active, true)).orderBy(asc(subscriptionPlans.priceCents));
  return { plans };
}

/** The user's live subscription (see {@link liveSubscription}) with the credits left this period; null when there is none. */
export async function subscriptionStatus(db: Database, userId: string): Promise<SubscriptionStatus> {
  const live = await liveSubscription(db, userId);
  if (!live) return { subscription: null };
  const { plan, subscription } = live;
  return {
    subscription: {
      plan: { id: plan.id, name: plan.name, monthlyCredits: plan.monthlyCredits, priceCents: plan.priceCents, currency: plan.currency },
      status: subscription.status,
      currentPeriodEnd: subscription.currentPeriodEnd?.toISOString() ?? null,
      cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
      creditsLeft: await creditBalance(db, subscription.id),
    },
  };
}
