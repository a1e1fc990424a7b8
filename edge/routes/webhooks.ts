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
    headers: [
      {
        name: "Stripe-Signature",
        required: true,
        description: '`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` with the endpoint secret; without it the call is a 400',
        schema: { type: "string", maxLength: 1024 },
      },
    ],
    requestBody: {
      description: "A Stripe event, exactly as Stripe sends it (the raw body is what the signature covers)",
      content: {
        "application/json": {
          type: "object",
          required: ["id", "object", "type", "created", "data"],
          properties: {
            id: { type: "string", description: "The event id (evt_...); each is handled once" },
            object: { const: "event" },
            type: { type: "string", description: "The event type, e.g. checkout.session.completed" },
            created: { type: "integer", description: "Unix time" },
            livemode: { type: "boolean" },
            api_version: { type: ["string", "null"] },
            data: {
              type: "object",
              required: ["object"],
              properties: { object: { type: "object", description: "The Stripe object the event is about" }, previous_attributes: { type: "object" } },
            },
          },
        },
      },
    },
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
