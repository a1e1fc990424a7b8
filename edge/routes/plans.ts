import { Hono } from "hono";
import type { AppEnv } from "../env";
import { caller, spec } from "../lib/route";
import { listPlans, PlanListSchema, SubscriptionStatusSchema, subscriptionStatus } from "../services/commerce/plans";

/** Subscription plans on offer, and the caller's own subscription with its credits. */
export const planRoutes = new Hono<AppEnv>()
  .get(
    "/plans",
    spec({
      summary: "Subscription plans on offer",
      tags: ["commerce"],
      access: "public",
      responses: { 200: { description: "Plans, cheapest first", schema: PlanListSchema } },
    }),
    async (c) => {
      const plans = await listPlans(c.var.db);
      c.header("cache-control", "public, max-age=300");
      return c.json(plans);
    },
  )
  .get(
    "/subscription",
    spec({
      summary: "Your live subscription and the download credits left this period",
      tags: ["commerce"],
      access: ["buyer"],
      responses: { 200: { description: "null subscription when there is none", schema: SubscriptionStatusSchema } },
    }),
    async (c) => c.json(await subscriptionStatus(c.var.db, caller(c).userId)),
  );
