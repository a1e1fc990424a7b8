import Stripe from "stripe";
import { log } from "../../common/log";
import type { Config } from "../config";
import { ApiError } from "../lib/problem";

const clients = new WeakMap<Config, Stripe>();

/** Key the local Stripe stand-in accepts when no STRIPE_SECRET_KEY is configured. */
export const STANDIN_API_KEY = "sk_test_edgestock_local";

/**
 * The Stripe SDK on the Workers fetch client. In production it talks to api.stripe.com with
 * STRIPE_SECRET_KEY; locally STRIPE_API_BASE points its host, port and protocol at the Stripe
 * stand-in (scripts/stripe-standin), which follows the same documented contract. Retries use
 * Stripe's idempotency keys, so a retried POST never creates twice.
 */
export function stripeClient(config: Config): Stripe {
  const hit = clients.get(config);
  if (hit) return hit;
  if (!config.STRIPE_SECRET_KEY && !config.STRIPE_API_BASE) {
    throw new ApiError("service-unavailable", "payments are not configured (STRIPE_SECRET_KEY)");
  }
  const base = config.STRIPE_API_BASE ? new URL(config.STRIPE_API_BASE) : null;
  const client = new Stripe(config.STRIPE_SECRET_KEY || STANDIN_API_KEY, {
    httpClient: Stripe.createFetchHttpClient(),
    maxNetworkRetries: 2,
    timeout: 10_000,
    telemetry: false,
    ...(base && {
      host: base.hostname,
      port: Number(base.port || (base.protocol === "https:" ? 443 : 80)),
      protocol: base.protocol === "https:" ? "https" : "http",
    }),
  });
  clients.set(config, client);
  return client;
}

const cryptoProvider = Stripe.createSubtleCryptoProvider();

/**
 * Verifies a webhook delivery with the endpoint's signing secret (Web Crypto HMAC-SHA256 over the
 * raw body, timestamp within 5 minutes) and returns the event. Anything else is a 400 problem.
 */
export async function verifyWebhook(config: Config, rawBody: string, signature: string | undefined): Promise<Stripe.Event> {
  if (!config.STRIPE_WEBHOOK_SECRET) throw new ApiError("service-unavailable", "the webhook secret is not configured (STRIPE_WEBHOOK_SECRET)");
  if (!signature) throw new ApiError("webhook-signature-invalid", "the Stripe-Signature header is missing");
  try {
    return await Stripe.webhooks.constructEventAsync(rawBody, signature, config.STRIPE_WEBHOOK_SECRET, 300, cryptoProvider);
  } catch (error) {
    throw new ApiError("webhook-signature-invalid", error instanceof Error ? error.message : "the signature does not verify");
  }
}

/** Stripe refused or failed a call: a 502 problem with Stripe's message (never our secrets). */
export function providerError(error: unknown): ApiError {
  const message = error instanceof Stripe.errors.StripeError ? error.message : "the payment provider did not answer";
  log.error("stripe call failed", { error: error instanceof Error ? error.message : String(error) });
  return new ApiError("payment-provider-error", message);
}

export type { Stripe };
