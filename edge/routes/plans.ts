import { asc, eq } from "drizzle-orm";
import { Hono } from "hono";
import * as v from "valibot";
import { subscriptionPlans } from "../../db/schema";
import type { AppEnv } from "../env";
import { caller, spec } from "../lib/route";
import { creditBalance, liveSubscription } from "../services/commerce/subscriptions";

const PlanSchema = v.object({ id: v.string(), name: v.string(), monthlyCredits: v.number(), priceCents: v.number(), currency: v.string() });

/** Subscription plans on offer, and the caller's own subscription with its credits. */
export const planRoutes = new Hono<AppEnv>()
  .get(
    "/plans",
    spec({
      summary: "Subscription plans on offer",
      tags: ["commerce"],
      access: "public",
      responses: { 200: { description: "Plans, cheapest first", schema: v.object({ plans: v.array(PlanSchema) }) } },
    }),
    async (c) => {
      const plans = await c.var.db
        .select({ id: subscriptionPlans.id, name: subscriptionPlans.name, monthlyCredits: subscriptionPlans.monthlyCredits, priceCents: subscriptionPlans.priceCents, currency: subscriptionPlans.currency })
        .from(subscriptionPlans)
        .where(eq(subscriptionPlans.active, true))
        .orderBy(asc(subscriptionPlans.priceCents));
      c.header("cache-control", "public, max-age=300");
      return c.json({ plans });
    },
  )
  .get(
    "/subscription",
    spec({
      summary: "Your live subscription and the download credits left this period",
      tags: ["commerce"],
      access: ["buyer"],
      responses: {
        200: {
          description: "null subscription when there is none",
          schema: v.object({
            subscription: v.nullable(
              v.object({ plan: PlanSchema, status: v.string(), currentPeriodEnd: v.nullable(v.string()), cancelAtPeriodEnd: v.boolean(), creditsLeft: v.number() }),
            ),
          }),
        },
      },
    }),
    async (c) => {
      const live = await liveSubscription(c.var.db, caller(c).userId);
      if (!live) return c.json({ subscription: null });
      const { plan, subscription } = live;
      return c.json({
        subscription: {
          plan: { id: plan.id, name: plan.name, monthlyCredits: plan.monthlyCredits, priceCents: plan.priceCents, currency: plan.currency },
          status: subscription.status,
          currentPeriodEnd: subscription.currentPeriodEnd?.toISOString() ?? null,
          cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
          creditsLeft: await creditBalance(c.var.db, subscription.id),
        },
      });
    },
  );
