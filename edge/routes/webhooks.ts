import { Hono } from "hono";
import type { AppEnv } from "../env";
import { spec } from "../lib/route";
import { receiveStripeWebhook, WebhookReceiptSchema } from "../services/commerce/stripe-events";

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
      200: { description: "Handled, or already handled (duplicate: true)", schema: WebhookReceiptSchema },
      400: { description: "The signature does not verify; nothing changed" },
    },
  }),
  async (c) => {
    const deps = { db: c.var.db, config: c.var.config, log: c.var.log };
    return c.json(await receiveStripeWebhook(deps, await c.req.text(), c.req.header("stripe-signature")));
  },
);
