import { type Context, Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../env";
import { caller, input, spec } from "../lib/route";
import { idempotent } from "../middleware/idempotency";
import { CheckoutStartedSchema, checkoutCart, checkoutSubscription } from "../services/commerce/checkout";

const deps = (c: Context<AppEnv>) => ({ db: c.var.db, config: c.var.config, urls: c.var.urls, log: c.var.log });

/**
 * Checkout: the buyer is sent to Stripe Checkout (locally, the Stripe stand-in's page). Nothing is
 * granted until Stripe's webhook says the payment succeeded.
 */
export const checkoutRoutes = new Hono<AppEnv>()
  .post(
    "/",
    spec({
      summary: "Check out the cart: creates a pending order with prices frozen and a Stripe Checkout Session for it",
      description: "Send Idempotency-Key: a retried request returns the same order and session. Licenses are issued when Stripe reports the payment (webhook).",
      tags: ["commerce"],
      access: ["buyer"],
      idempotent: true,
      responses: {
        201: { description: "Redirect the buyer to checkoutUrl", schema: CheckoutStartedSchema },
        409: { description: "Some items can no longer be bought or are already licensed (listed in `items`)" },
        422: { description: "The cart is empty" },
        502: { description: "Stripe refused or did not answer; nothing was charged" },
      },
    }),
    input("json", v.strictObject({})),
    idempotent(),
    async (c) => c.json(await checkoutCart(deps(c), caller(c).userId), 201),
  )
  .post(
    "/subscription",
    spec({
      summary: "Subscribe to a plan: a Stripe Checkout Session in subscription mode",
      description: "Monthly download credits are granted when Stripe reports each paid invoice.",
      tags: ["commerce"],
      access: ["buyer"],
      idempotent: true,
      responses: {
        201: { description: "Redirect the buyer to checkoutUrl", schema: CheckoutStartedSchema },
        404: { description: "No such plan on offer" },
        409: { description: "The buyer already has a live subscription" },
      },
    }),
    input("json", v.strictObject({ planId: v.pipe(v.string(), v.regex(/^[a-z0-9-]{1,64}$/, "must be a plan id")) })),
    idempotent(),
    async (c) => c.json(await checkoutSubscription(deps(c), caller(c).userId, c.req.valid("json").planId), 201),
  );
