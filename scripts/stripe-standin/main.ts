/**
 * Runs the Stripe stand-in on its own: `bun scripts/stripe-standin/main.ts` (or Node with a TS loader).
 * Env: STRIPE_WEBHOOK_SECRET (required), STRIPE_STANDIN_PORT (12111), STRIPE_WEBHOOK_URL (where to
 * deliver events; unset: none are delivered), STRIPE_STANDIN_STATE (a JSON file that keeps the state
 * across restarts). Prints the URL; Ctrl-C or SIGTERM stops it.
 */
import * as v from "valibot";
import { describeConfigIssues } from "../../common/config";
import { startStripeStandin } from "./server";

const Env = v.object({
  STRIPE_WEBHOOK_SECRET: v.pipe(v.string(), v.trim(), v.nonEmpty("STRIPE_WEBHOOK_SECRET is not set")),
  STRIPE_STANDIN_PORT: v.pipe(
    v.optional(v.string(), "12111"),
    v.transform(Number),
    v.integer("STRIPE_STANDIN_PORT must be an integer"),
    v.minValue(0, "STRIPE_STANDIN_PORT must be at least 0"),
    v.maxValue(65535, "STRIPE_STANDIN_PORT must be at most 65535"),
  ),
  STRIPE_WEBHOOK_URL: v.optional(v.pipe(v.string(), v.url("STRIPE_WEBHOOK_URL must be a URL"))),
  STRIPE_STANDIN_STATE: v.optional(v.string()),
});

const parsed = v.safeParse(Env, Object.fromEntries(Object.entries(process.env).filter(([, value]) => value !== "")));
if (!parsed.success) {
  console.error(`stripe-standin configuration: ${describeConfigIssues(parsed.issues)}`);
  process.exit(1);
}
const env = parsed.output;

const standin = await startStripeStandin({
  port: env.STRIPE_STANDIN_PORT,
  webhookSecret: env.STRIPE_WEBHOOK_SECRET,
  webhookUrl: env.STRIPE_WEBHOOK_URL,
  statePath: env.STRIPE_STANDIN_STATE,
});
console.log(`Stripe stand-in listening on ${standin.url}${env.STRIPE_WEBHOOK_URL ? `, delivering events to ${env.STRIPE_WEBHOOK_URL}` : ""}`);

// The first signal lets webhook deliveries under way finish; a second one stops at once.
let stopping = false;
const stop = async () => {
  if (stopping) process.exit(1);
  stopping = true;
  await standin.stop();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
