import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AnnouncedEvent, type StripeStandin, startStripeStandin } from "../../scripts/stripe-standin/server";

const SECRET = "whsec_standin_test";
const API_KEY = "sk_test_standin";

type ControlAnswer = { events: AnnouncedEvent[] };

let standin: StripeStandin;
let stripe: Stripe;

function sdkFor(port: number, key = API_KEY): Stripe {
  return new Stripe(key, { host: "127.0.0.1", port, protocol: "http", httpClient: Stripe.createFetchHttpClient(), maxNetworkRetries: 0 });
}

beforeAll(async () => {
  standin = await startStripeStandin({ webhookSecret: SECRET });
  stripe = sdkFor(standin.port);
});
afterAll(() => standin.stop());

/** Calls a dev control as a test does (JSON in, JSON out). */
async function control(path: string, body: Record<string, unknown> = {}, base = standin.url): Promise<ControlAnswer> {
  const response = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as ControlAnswer;
}

/** The control's events, each checked with the SDK's own signature verification. */
function verified(answer: ControlAnswer): Stripe.Event[] {
  return answer.events.map((event) => stripe.webhooks.constructEvent(event.payload, event.signature, SECRET));
}

const photo = (unitAmount: number, quantity = 1) => ({
  quantity,
  price_data: { currency: "usd", unit_amount: unitAmount, product_data: { name: "Sunset photo", images: ["https://cdn.test/a.jpg"], metadata: { image_id: "img_1" } } },
});

function paymentSession(extra: Partial<Stripe.Checkout.SessionCreateParams> = {}, options?: Stripe.RequestOptions) {
  return stripe.checkout.sessions.create(
    {
      mode: "payment",
      line_items: [photo(1500, 2), photo(500)],
      success_url: "https://app.test/ok?session_id={CHECKOUT_SESSION_ID}",
      cancel_url: "https://app.test/cancel",
      client_reference_id: "ord_1",
      metadata: { order_id: "ord_1" },
      payment_intent_data: { metadata: { order_id: "ord_1" } },
      ...extra,
    },
    options,
  );
}

function subscriptionSession(customer: string) {
  return stripe.checkout.sessions.create({
    mode: "subscription",
    customer,
    line_items: [{ quantity: 1, price_data: { currency: "usd", unit_amount: 900, recurring: { interval: "month" }, product_data: { name: "Pro plan" } } }],
    success_url: "https://app.test/sub/ok",
    metadata: { plan_id: "pro" },
    subscription_data: { metadata: { user_id: "u1", plan_id: "pro" } },
  });
}

async function paidCharge(): Promise<Stripe.Charge> {
  const session = await paymentSession();
  await control(`/checkout/${session.id}/complete`);
  const intent = await stripe.paymentIntents.retrieve((await stripe.checkout.sessions.retrieve(session.id)).payment_intent as string);
  return stripe.charges.retrieve(intent.latest_charge as string);
}

async function latestEvent(type: string): Promise<Stripe.Event> {
  const { data } = await stripe.events.list({ type, limit: 1 });
  expect(data[0]).toBeDefined();
  return data[0] as Stripe.Event;
}

describe("the Stripe API through the real SDK", () => {
  it("creates a customer and a checkout session and reads them back", async () => {
    const customer = await stripe.customers.create({ email: "buyer@test.dev", name: "Buyer", metadata: { user_id: "u1" } });
    expect(customer).toMatchObject({ object: "customer", email: "buyer@test.dev", metadata: { user_id: "u1" }, livemode: false });
    expect(customer.id).toMatch(/^cus_/);

    const session = await paymentSession({ customer: customer.id });
    expect(session.id).toMatch(/^cs_test_/);
    expect(session).toMatchObject({
      object: "checkout.session",
      status: "open",
      payment_status: "unpaid",
      mode: "payment",
      amount_total: 3500,
      currency: "usd",
      customer: customer.id,
      payment_intent: null,
    });
    expect(session.url).toBe(`${standin.url}/checkout/${session.id}`);
    expect(session.expires_at - session.created).toBe(24 * 60 * 60);

    const read = await stripe.checkout.sessions.retrieve(session.id, { expand: ["line_items", "customer"] });
    expect(read.id).toBe(session.id);
    expect(read.line_items?.data.map((item) => [item.description, item.quantity, item.amount_total])).toEqual([
      ["Sunset photo", 2, 3000],
      ["Sunset photo", 1, 500],
    ]);
    expect((read.customer as Stripe.Customer).email).toBe("buyer@test.dev");

    const page = await (await fetch(session.url as string)).text();
    expect(page).toContain("$35.00");
    expect(page).toContain("Pay by bank transfer (settles later)");
  });

  it("replays an idempotent create instead of making a second session", async () => {
    const first = await paymentSession({}, { idempotencyKey: "order-ord_1" });
    const again = await paymentSession({}, { idempotencyKey: "order-ord_1" });
    expect(again.id).toBe(first.id);
    expect(new Headers(again.lastResponse.headers).get("idempotent-replayed")).toBe("true");
    await expect(paymentSession({ client_reference_id: "ord_2" }, { idempotencyKey: "order-ord_1" })).rejects.toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
  });

  it("names the parameter that is missing or wrong", async () => {
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        () => expect.unreachable(),
        (error: unknown) => error as Stripe.errors.StripeError,
      );
    const noMode = await refusal(stripe.checkout.sessions.create({ line_items: [photo(100)], success_url: "https://app.test/ok" } as Stripe.Checkout.SessionCreateParams));
    expect(noMode).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(noMode).toMatchObject({ statusCode: 400, param: "mode", code: "parameter_missing" });
    expect(await refusal(paymentSession({ success_url: undefined }))).toMatchObject({ param: "success_url" });
    expect(await refusal(paymentSession({ line_items: [] }))).toMatchObject({ param: "line_items" });
    expect(await refusal(paymentSession({ line_items: [{ quantity: 1, price_data: { currency: "usd", product_data: { name: "x" } } }] }))).toMatchObject({
      param: "line_items[0][price_data][unit_amount]",
    });
    const recurring = { quantity: 1, price_data: { currency: "usd", unit_amount: 900, recurring: { interval: "month" as const }, product_data: { name: "Pro" } } };
    expect(await refusal(paymentSession({ line_items: [recurring] }))).toMatchObject({ param: "line_items[0]" });
    expect(await refusal(stripe.checkout.sessions.create({ mode: "subscription", line_items: [photo(100)], success_url: "https://app.test/ok" }))).toMatchObject({
      param: "line_items",
    });
  });

  it("answers 404 resource_missing for an unknown id", async () => {
    const error = await stripe.checkout.sessions.retrieve("cs_test_nope").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ statusCode: 404, code: "resource_missing", param: "id" });
    expect((error as Stripe.errors.StripeError).requestId).toMatch(/^req_/);
  });

  it("refuses requests without a key or with a wrong one", async () => {
    const bare = await fetch(`${standin.url}/v1/customers`, { method: "POST" });
    expect(bare.status).toBe(401);
    expect(await bare.json()).toMatchObject({ error: { type: "invalid_request_error" } });
    await expect(sdkFor(standin.port, "sk_live_nope").customers.create()).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError);

    const strict = await startStripeStandin({ webhookSecret: SECRET, apiKey: "sk_test_only_this" });
    try {
      await expect(sdkFor(strict.port, "sk_test_another").customers.create()).rejects.toMatchObject({ statusCode: 401 });
      await expect(sdkFor(strict.port, "sk_test_only_this").customers.create()).resolves.toMatchObject({ object: "customer" });
    } finally {
      await strict.stop();
    }
  });
});

describe("checkout played through the dev controls", () => {
  it("pays a payment-mode session: signed events, a paid session, a charge with the intent's metadata", async () => {
    const session = await paymentSession();
    const events = verified(await control(`/checkout/${session.id}/complete`, { outcome: "paid" }));
    expect(events.map((event) => event.type)).toEqual(["checkout.session.completed"]);
    expect(events[0]).toMatchObject({ object: "event", livemode: false, api_version: Stripe.API_VERSION, data: { object: { id: session.id, status: "complete" } } });

    const paid = await stripe.checkout.sessions.retrieve(session.id);
    expect(paid).toMatchObject({ status: "complete", payment_status: "paid", url: null });
    const intent = await stripe.paymentIntents.retrieve(paid.payment_intent as string);
    expect(intent).toMatchObject({ status: "succeeded", amount: 3500, metadata: { order_id: "ord_1" } });
    const charge = await stripe.charges.retrieve(intent.latest_charge as string);
    expect(charge).toMatchObject({
      paid: true,
      status: "succeeded",
      amount: 3500,
      amount_refunded: 0,
      refunded: false,
      payment_intent: intent.id,
      metadata: { order_id: "ord_1" },
    });

    const twice = await fetch(`${standin.url}/checkout/${session.id}/complete`, { method: "POST" });
    expect(twice.status).toBe(400);
  });

  it("sends a browser's form post back to success_url with the session id filled in", async () => {
    const session = await paymentSession();
    const response = await fetch(`${standin.url}/checkout/${session.id}/complete`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "text/html,application/xhtml+xml" },
      body: "outcome=paid",
      redirect: "manual",
    });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe(`https://app.test/ok?session_id=${session.id}`);
  });

  it("delivers each event to the webhook URL, signed, in order", async () => {
    const received: { body: string; signature: string }[] = [];
    const receiver = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => (body += chunk));
      request.on("end", () => {
        received.push({ body, signature: String(request.headers["stripe-signature"]) });
        response.end("ok");
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const address = receiver.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const delivering = await startStripeStandin({ webhookSecret: SECRET, webhookUrl: `http://127.0.0.1:${port}/webhooks/stripe` });
    try {
      const sdk = sdkFor(delivering.port);
      const customer = await sdk.customers.create({ email: "sub@test.dev" });
      const session = await sdk.checkout.sessions.create({
        mode: "subscription",
        customer: customer.id,
        line_items: [{ quantity: 1, price_data: { currency: "usd", unit_amount: 900, recurring: { interval: "month" }, product_data: { name: "Pro" } } }],
        success_url: "https://app.test/ok",
      });
      const answer = await control(`/checkout/${session.id}/complete`, {}, delivering.url);
      expect(answer.events.map((event) => event.delivery)).toEqual([
        { status: 200, ok: true },
        { status: 200, ok: true },
        { status: 200, ok: true },
      ]);
      expect(received.map((delivery) => delivery.body)).toEqual(answer.events.map((event) => event.payload));
      const types = received.map((delivery) => stripe.webhooks.constructEvent(delivery.body, delivery.signature, SECRET).type);
      expect(types).toEqual(["customer.subscription.created", "checkout.session.completed", "invoice.paid"]);
      expect(delivering.events.map((event) => event.type)).toEqual(types);
    } finally {
      await delivering.stop();
      receiver.close();
    }
  });

  it("settles a bank transfer later: succeeded charges it, failed leaves it unpaid", async () => {
    const settling = await paymentSession();
    const [completed] = verified(await control(`/checkout/${settling.id}/complete`, { outcome: "async" }));
    expect(completed?.data.object).toMatchObject({ status: "complete", payment_status: "unpaid" });
    const waiting = await stripe.checkout.sessions.retrieve(settling.id);
    expect(await stripe.paymentIntents.retrieve(waiting.payment_intent as string)).toMatchObject({ status: "processing", latest_charge: null });

    const [succeeded] = verified(await control(`/_dev/checkout/${settling.id}/async`, { succeed: true }));
    expect(succeeded?.type).toBe("checkout.session.async_payment_succeeded");
    expect(succeeded?.data.object).toMatchObject({ payment_status: "paid" });
    const intent = await stripe.paymentIntents.retrieve(waiting.payment_intent as string);
    expect(intent.status).toBe("succeeded");
    expect(await stripe.charges.retrieve(intent.latest_charge as string)).toMatchObject({ paid: true, metadata: { order_id: "ord_1" } });

    const failing = await paymentSession();
    await control(`/checkout/${failing.id}/complete`, { outcome: "async" });
    const [failed] = verified(await control(`/_dev/checkout/${failing.id}/async`, { succeed: false }));
    expect(failed?.type).toBe("checkout.session.async_payment_failed");
    const unpaid = await stripe.checkout.sessions.retrieve(failing.id);
    expect(unpaid.payment_status).toBe("unpaid");
    expect((await stripe.paymentIntents.retrieve(unpaid.payment_intent as string)).status).toBe("requires_payment_method");
  });

  it("expires an open session once, with checkout.session.expired", async () => {
    const session = await paymentSession();
    expect(await stripe.checkout.sessions.expire(session.id)).toMatchObject({ status: "expired", url: null });
    expect((await latestEvent("checkout.session.expired")).data.object).toMatchObject({ id: session.id });
    await expect(stripe.checkout.sessions.expire(session.id)).rejects.toMatchObject({ statusCode: 400 });
  });
});

describe("subscriptions", () => {
  it("subscribes, renews and cancels, with the invoice tied to the subscription and its metadata", async () => {
    const customer = await stripe.customers.create({ email: "sub@test.dev" });
    const session = await subscriptionSession(customer.id);
    const events = verified(await control(`/checkout/${session.id}/complete`));
    expect(events.map((event) => event.type)).toEqual(["customer.subscription.created", "checkout.session.completed", "invoice.paid"]);
    const subscription = events[0]?.data.object as Stripe.Subscription;
    const invoice = events[2]?.data.object as Stripe.Invoice;
    expect(subscription).toMatchObject({ status: "active", customer: customer.id, metadata: { user_id: "u1", plan_id: "pro" }, cancel_at_period_end: false });
    expect(subscription.items.data[0]).toMatchObject({ quantity: 1, price: { unit_amount: 900, currency: "usd", recurring: { interval: "month" } } });
    expect(invoice).toMatchObject({
      status: "paid",
      amount_paid: 900,
      billing_reason: "subscription_create",
      parent: { type: "subscription_details", subscription_details: { subscription: subscription.id, metadata: { user_id: "u1", plan_id: "pro" } } },
    });
    expect(invoice.lines.data[0]?.period).toEqual({ start: subscription.items.data[0]?.current_period_start, end: subscription.items.data[0]?.current_period_end });
    expect(await stripe.checkout.sessions.retrieve(session.id)).toMatchObject({ status: "complete", payment_status: "paid", subscription: subscription.id });

    const [updated, renewalPaid] = verified(await control(`/_dev/subscriptions/${subscription.id}/renew`));
    expect(updated?.type).toBe("customer.subscription.updated");
    const renewed = updated?.data.object as Stripe.Subscription;
    const firstPeriodEnd = subscription.items.data[0]?.current_period_end as number;
    expect(renewed.items.data[0]?.current_period_start).toBe(firstPeriodEnd);
    expect(renewed.items.data[0]?.current_period_end).toBeGreaterThan(firstPeriodEnd + 27 * 86_400);
    expect(updated?.data.previous_attributes).toMatchObject({ items: { data: [{ current_period_end: firstPeriodEnd }] } });
    expect(renewalPaid?.type).toBe("invoice.paid");
    expect(renewalPaid?.data.object).toMatchObject({ billing_reason: "subscription_cycle", amount_paid: 900, period_start: firstPeriodEnd });

    expect(await stripe.subscriptions.cancel(subscription.id)).toMatchObject({ status: "canceled" });
    expect((await latestEvent("customer.subscription.deleted")).data.object).toMatchObject({ id: subscription.id, status: "canceled" });
    expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe("canceled");
  });
});

describe("refunds and disputes", () => {
  it("refunds in parts, then in full, updating the charge that charge.refunded carries", async () => {
    const charge = await paidCharge();
    const part = await stripe.refunds.create({ charge: charge.id, amount: 500 });
    expect(part).toMatchObject({ object: "refund", amount: 500, charge: charge.id, status: "succeeded" });
    expect((await stripe.charges.retrieve(charge.id)).refunded).toBe(false);

    const rest = await stripe.refunds.create({ payment_intent: charge.payment_intent as string });
    expect(rest.amount).toBe(3000);
    const refunded = (await latestEvent("charge.refunded")).data.object as Stripe.Charge;
    expect(refunded).toMatchObject({ id: charge.id, amount: 3500, amount_refunded: 3500, refunded: true, payment_intent: charge.payment_intent, metadata: { order_id: "ord_1" } });
    await expect(stripe.refunds.create({ charge: charge.id })).rejects.toMatchObject({ code: "charge_already_refunded" });
  });

  it("opens a dispute on a charge", async () => {
    const charge = await paidCharge();
    const [created] = verified(await control(`/_dev/charges/${charge.id}/dispute`));
    expect(created?.type).toBe("charge.dispute.created");
    expect(created?.data.object).toMatchObject({
      object: "dispute",
      charge: charge.id,
      payment_intent: charge.payment_intent,
      amount: 3500,
      reason: "fraudulent",
      status: "needs_response",
    });
  });

  it("resends a stored event with the same payload and a fresh signature", async () => {
    const charge = await paidCharge();
    const [original] = (await control(`/_dev/charges/${charge.id}/dispute`)).events;
    const [again] = (await control(`/_dev/events/${original?.id}/resend`)).events;
    expect(again?.payload).toBe(original?.payload);
    expect(stripe.webhooks.constructEvent(again?.payload ?? "", again?.signature ?? "", SECRET).id).toBe(original?.id);
    expect((await stripe.events.retrieve(original?.id ?? "")).type).toBe("charge.dispute.created");
  });
});

describe("Connect", () => {
  it("refuses transfers until the account holder onboards, then pays out once per idempotency key", async () => {
    const account = await stripe.accounts.create({ type: "express", email: "seller@test.dev", metadata: { user_id: "s1" }, capabilities: { transfers: { requested: true } } });
    expect(account).toMatchObject({ object: "account", charges_enabled: false, payouts_enabled: false, details_submitted: false, capabilities: { transfers: "inactive" } });

    const link = await stripe.accountLinks.create({
      account: account.id,
      refresh_url: "https://app.test/connect/refresh",
      return_url: "https://app.test/connect/done",
      type: "account_onboarding",
    });
    expect(link.url.startsWith(`${standin.url}/connect/onboard/${account.id}`)).toBe(true);
    expect(link.expires_at - link.created).toBe(300);
    expect(await (await fetch(link.url)).text()).toContain("Finish onboarding");

    const transfer = { amount: 700, currency: "usd", destination: account.id, transfer_group: "ord_77", metadata: { order_id: "ord_77" } };
    await expect(stripe.transfers.create(transfer)).rejects.toMatchObject({ statusCode: 400, code: "insufficient_capabilities_for_transfer", param: "destination" });
    await expect(stripe.transfers.create({ ...transfer, destination: "acct_nope" })).rejects.toMatchObject({ code: "resource_missing", param: "destination" });

    const onboarded = await fetch(`${standin.url}/connect/onboard/${account.id}/complete`, { method: "POST", headers: { accept: "text/html" }, redirect: "manual" });
    expect(onboarded.status).toBe(303);
    expect(onboarded.headers.get("location")).toBe("https://app.test/connect/done");
    const updated = await latestEvent("account.updated");
    expect(updated.data).toMatchObject({
      object: { id: account.id, payouts_enabled: true, details_submitted: true, capabilities: { transfers: "active" } },
      previous_attributes: { payouts_enabled: false },
    });

    const made = await stripe.transfers.create(transfer, { idempotencyKey: "payout-ord_77" });
    const replayed = await stripe.transfers.create(transfer, { idempotencyKey: "payout-ord_77" });
    expect(replayed.id).toBe(made.id);
    expect(made).toMatchObject({ object: "transfer", amount: 700, destination: account.id, transfer_group: "ord_77", reversed: false, amount_reversed: 0 });
    const listed = await stripe.transfers.list({ transfer_group: "ord_77" });
    expect(listed.data.map((t) => t.id)).toEqual([made.id]);
    expect(listed.has_more).toBe(false);
  });

  it("pages through lists newest first", async () => {
    const account = await stripe.accounts.create({ type: "express" });
    await control(`/connect/onboard/${account.id}/complete`);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await stripe.transfers.create({ amount: 100 + i, currency: "usd", destination: account.id })).id);
    const first = await stripe.transfers.list({ destination: account.id, limit: 2 });
    expect(first.data.map((t) => t.id)).toEqual([ids[2], ids[1]]);
    expect(first.has_more).toBe(true);
    const second = await stripe.transfers.list({ destination: account.id, limit: 2, starting_after: ids[1] });
    expect(second.data.map((t) => t.id)).toEqual([ids[0]]);
    expect(second.has_more).toBe(false);
  });
});

describe("state across restarts", () => {
  it("keeps sessions and events in the state file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "stripe-standin-"));
    const statePath = join(dir, "state.json");
    try {
      const first = await startStripeStandin({ webhookSecret: SECRET, statePath });
      const session = await sdkFor(first.port).checkout.sessions.create({ mode: "payment", line_items: [photo(1200)], success_url: "https://app.test/ok" });
      await control(`/checkout/${session.id}/complete`, {}, first.url);
      await first.stop();

      const second = await startStripeStandin({ webhookSecret: SECRET, statePath });
      try {
        expect(await sdkFor(second.port).checkout.sessions.retrieve(session.id)).toMatchObject({ id: session.id, status: "complete", amount_total: 1200 });
        expect(second.events.map((event) => event.type)).toEqual(["checkout.session.completed"]);
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
