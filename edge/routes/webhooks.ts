import { Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../env";
import { spec } from "../lib/route";
import { verifyWebhook } from "../adapters/stripe";
import { handleStripeEvent } from "../services/commerce/stripe-events";

const Received = v.object({ received: v.literal(true), eventId: v.string(), type: v.string(), duplicate: v.boolean(), outcome: v.string() });

/** Stripe webhooks. The raw body is verified before anything is parsed or written. */
export const webhookRoutes = new Hono<AppEnv>().post(
  "/stripe",
  spec({
    summary: "Stripe webhook endpoint",
    description:
      "Verifies the Stripe-Signature header against the raw body with the endpoint secret (HMAC-SHA256, 5-minute tolerance), then " +
      "handles each event id once: checkout.session.completed / async_payment_succeeded / async_payment_failed / expired, " +
      "charge.refunded, charge.dispute.created, customer.subscription.created / updated / deleted, invoice.paid and " +
      "account.updated. Other types are acknowledged and ignored. A failure answers 500 so Stripe retries.",
    tags: ["webhooks"],
    access: "public",
    responses: {
      200: { description: "Handled, or already handled (duplicate: true)", schema: Received },
      400: { description: "The signature does not verify; nothing changed" },
    },
  }),
  async (c) => {
    const raw = await c.req.text();
    const event = await verifyWebhook(c.var.config, raw, c.req.header("stripe-signature"));
    const result = await handleStripeEvent({ db: c.var.db, config: c.var.config }, event);
    console.log(JSON.stringify({ level: "info", msg: "stripe event", requestId: c.get("requestId"), ...result }));
    return c.json({ received: true as const, ...result });
  },
);
