import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import { createScratchDatabase } from "../../db/local/scratch";
import { startLocalDatabase } from "../../db/local/server";
import { generateJwtKeyPair } from "../../scripts/lib/dev-keys";
import { startStripeStandin } from "../../scripts/stripe-standin/server";

import "./provided";

/**
 * Edge tests run inside workerd against a real Postgres reached the production way (Neon
 * driver over WebSocket): a fresh in-memory PGlite, or a scratch database on the server in
 * TEST_DATABASE_URL when one is available. A second, isolated database serves the one test file
 * that compares whole-database row counts (see `isolatedWorker` in support.ts): test files run in
 * parallel, so the shared database changes under it.
 */
export default async function setup(project: TestProject) {
  const serverUrl = process.env.TEST_DATABASE_URL;
  const open = (prefix: string) => (serverUrl ? createScratchDatabase(serverUrl, prefix) : startLocalDatabase({}));
  const [database, isolated] = await Promise.all([open("edgestock_edge"), open("edgestock_edge_isolated")]);
  // Stripe's API is the one remote service the edge calls here: the stand-in follows its contract.
  // Tests deliver the webhooks themselves (the Worker under test has no address to post to).
  const stripeKey = "sk_test_edgestock_local";
  const stripeWebhookSecret = `whsec_${randomBytes(24).toString("base64url")}`;
  const stripe = await startStripeStandin({ webhookSecret: stripeWebhookSecret, apiKey: stripeKey });
  project.provide("edgeBindings", {
    ENVIRONMENT: "test",
    // The tests play Cloudflare's part: each caller gets its own CF-Connecting-IP (support.ts freshIp).
    TRUST_CF_CONNECTING_IP: "true",
    DATABASE_URL: database.url,
    DB_LOCAL_PROXY: database.proxy,
    ISOLATED_DATABASE_URL: isolated.url,
    ISOLATED_DB_LOCAL_PROXY: isolated.proxy,
    ...generateJwtKeyPair(),
    // Presigned URLs point at the Worker's own S3 stand-in, reached through SELF in tests.
    R2_S3_ENDPOINT: "http://edgestock.test/_local/s3",
    R2_ACCESS_KEY_ID: "testkey",
    R2_SECRET_ACCESS_KEY: randomBytes(24).toString("base64url"),
    LOCAL_QUEUES_TOKEN: randomBytes(24).toString("base64url"),
    STRIPE_SECRET_KEY: stripeKey,
    STRIPE_WEBHOOK_SECRET: stripeWebhookSecret,
    STRIPE_API_BASE: stripe.url,
    STRIPE_STANDIN_URL: stripe.url,
    // A .dev.vars next to the config (a developer's own; npm start writes its secrets elsewhere) must not leak
    // into the tests: these are the tests' own values.
    EMBED_SERVICE_URL: "",
    WORKER_SHARED_SECRET: "",
    PUBLIC_APP_URL: "http://127.0.0.1:8787",
    // Every JSON response is checked against its route's declared schema (edge/lib/route.ts).
    VALIDATE_RESPONSES: "true",
  });
  return async () => {
    await stripe.stop();
    for (const db of [database, isolated]) {
      if ("drop" in db) await db.drop();
      else await db.stop();
    }
  };
}
