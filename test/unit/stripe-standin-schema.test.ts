/**
 * The Stripe stand-in held to Stripe's own OpenAPI schema (scripts/stripe-standin/schema/): every
 * endpoint it serves is called through the real `stripe` SDK, and every JSON body it answers with
 * is validated against the response schema Stripe publishes for that endpoint.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import Stripe from "stripe";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STANDIN_ENDPOINTS } from "../../scripts/stripe-standin/endpoints";
import { checkParams, operationFor, type Schema, schemaErrors, stripeSchema } from "../../scripts/stripe-standin/schema";
import { type StripeStandin, startStripeStandin } from "../../scripts/stripe-standin/server";

const API_KEY = "sk_test_standin";

type Answer = { operation: string; status: number; body: unknown };

let standin: StripeStandin;
let stripe: Stripe;
/** Every answer the SDK got, as the JSON the stand-in sent. */
const answers: Answer[] = [];

/** fetch, recording each answer's raw JSON body before the SDK parses it. */
const recordingFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const response = await fetch(input, init);
  const url = new URL(input instanceof Request ? input.url : String(input));
  const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
  const operation = operationFor(method, url.pathname);
  if (operation) answers.push({ operation, status: response.status, body: await response.clone().json() });
  return response;
};

async function control(path: string, body: Record<string, unknown> = {}): Promise<void> {
  const response = await fetch(`${standin.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect(response.status, await response.clone().text()).toBe(200);
}

beforeAll(async () => {
  standin = await startStripeStandin({ webhookSecret: "whsec_schema_test" });
  stripe = new Stripe(API_KEY, {
    host: "127.0.0.1",
    port: standin.port,
    protocol: "http",
    httpClient: Stripe.createFetchHttpClient(Object.assign(recordingFetch, { preconnect: fetch.preconnect })),
    maxNetworkRetries: 0,
  });

  // One of everything the stand-in serves, the way the edge API uses it.
  const customer = await stripe.customers.create({ email: "buyer@test.dev", name: "Buyer", metadata: { user_id: "u1" } });
  await stripe.customers.retrieve(customer.id);
  const price = await stripe.prices.create({ currency: "usd", unit_amount: 1200, product_data: { name: "Pro plan" }, recurring: { interval: "month" } });
  await stripe.prices.retrieve(price.id);

  const photo = { quantity: 2, price_data: { currency: "usd", unit_amount: 1500, product_data: { name: "Sunset photo", metadata: { image_id: "img_1" } } } };
  const session = await stripe.checkout.sessions.create({
    mode: "payment",
    line_items: [photo],
    success_url: "https://app.test/ok?session_id={CHECKOUT_SESSION_ID}",
    cancel_url: "https://app.test/cancel",
    client_reference_id: "ord_1",
    customer_email: "buyer@test.dev",
    metadata: { order_id: "ord_1" },
    payment_intent_data: { metadata: { order_id: "ord_1" } },
  });
  await stripe.checkout.sessions.retrieve(session.id, { expand: ["line_items"] });
  await stripe.checkout.sessions.listLineItems(session.id, { limit: 10 });
  await control(`/checkout/${session.id}/complete`);
  const paid = await stripe.checkout.sessions.retrieve(session.id);
  const intent = await stripe.paymentIntents.retrieve(paid.payment_intent as string);
  const charge = await stripe.charges.retrieve(intent.latest_charge as string);
  const refund = await stripe.refunds.create({ charge: charge.id, amount: 500, metadata: { order_id: "ord_1" } });
  await stripe.refunds.retrieve(refund.id);
  await control(`/_dev/charges/${charge.id}/dispute`);
  const disputed = await stripe.events.list({ type: "charge.dispute.*", limit: 1 });
  const dispute = disputed.data[0]?.data.object as Stripe.Dispute | undefined;
  await stripe.disputes.retrieve(dispute?.id ?? "dp_missing");

  const open = await stripe.checkout.sessions.create({ mode: "payment", line_items: [photo], success_url: "https://app.test/ok" });
  await stripe.checkout.sessions.expire(open.id);

  const subscribing = await stripe.checkout.sessions.create({
    mode: "subscription",
    customer: customer.id,
    line_items: [{ price: price.id, quantity: 1 }],
    success_url: "https://app.test/sub/ok",
    subscription_data: { metadata: { user_id: "u1" } },
  });
  await control(`/checkout/${subscribing.id}/complete`);
  const subscribed = await stripe.checkout.sessions.retrieve(subscribing.id);
  const subscription = await stripe.subscriptions.retrieve(subscribed.subscription as string);
  await stripe.invoices.retrieve(subscription.latest_invoice as string);
  await stripe.subscriptions.cancel(subscription.id);

  const account = await stripe.accounts.create({ type: "express", email: "seller@test.dev", capabilities: { transfers: { requested: true } } });
  await stripe.accountLinks.create({ account: account.id, refresh_url: "https://app.test/r", return_url: "https://app.test/d", type: "account_onboarding" });
  await control(`/connect/onboard/${account.id}/complete`);
  await stripe.accounts.retrieve(account.id);
  const transfer = await stripe.transfers.create({ amount: 700, currency: "usd", destination: account.id, transfer_group: "ord_1" });
  await stripe.transfers.retrieve(transfer.id);
  await stripe.transfers.list({ transfer_group: "ord_1", limit: 5 });

  const events = await stripe.events.list({ limit: 100 });
  for (const event of events.data) await stripe.events.retrieve(event.id);
});
afterAll(() => standin.stop());

describe("the extracted schema", () => {
  it("names its source and covers every endpoint the stand-in serves", () => {
    const { source, operations } = stripeSchema();
    expect(source).toMatchObject({ repository: "https://github.com/stripe/openapi", licence: expect.stringContaining("MIT") });
    expect(source.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(Object.keys(operations).sort()).toEqual(STANDIN_ENDPOINTS.map(({ method, path }) => `${method} ${path}`).sort());
  });

  it("finds a missing required field, a wrong type and a null where none is allowed", () => {
    const session = stripeSchema().operations["GET /v1/checkout/sessions/{session}"]?.response as Schema;
    const good = answers.find((answer) => answer.operation === "GET /v1/checkout/sessions/{session}")?.body as Record<string, unknown>;
    expect(schemaErrors(session, good)).toEqual([]);
    const { mode: _mode, ...noMode } = good;
    expect(schemaErrors(session, noMode)).toContain("$.mode: required by the schema but missing");
    expect(schemaErrors(session, { ...good, created: "yesterday" })).toContain("$.created: is string, the schema says integer");
    expect(schemaErrors(session, { ...good, livemode: null })).toContain("$.livemode: is null, which the schema does not allow");
    expect(schemaErrors(session, { ...good, status: "paused" }).join()).toContain('"paused" is not one of');
  });
});

describe.each(STANDIN_ENDPOINTS.map(({ method, path }) => `${method} ${path}`))("%s", (operation) => {
  it("answers with bodies that conform to Stripe's response schema", () => {
    const mine = answers.filter((answer) => answer.operation === operation);
    expect(mine.length, `the test never called ${operation}`).toBeGreaterThan(0);
    const schema = stripeSchema().operations[operation]?.response as Schema;
    for (const answer of mine) {
      expect(answer.status).toBe(200);
      expect(schemaErrors(schema, answer.body)).toEqual([]);
    }
  });
});

describe("unknown parameters", () => {
  it("are refused with Stripe's parameter_unknown error, naming the parameter, and change nothing", async () => {
    const charged = answers.find((answer) => answer.operation === "GET /v1/charges/{charge}")?.body as Stripe.Charge;
    const before = await stripe.charges.retrieve(charged.id);
    const error = await stripe.refunds.create({ charge: charged.id, amount: 100, favourite_colour: "blue" } as Stripe.RefundCreateParams).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ statusCode: 400, type: "StripeInvalidRequestError", code: "parameter_unknown", param: "favourite_colour" });
    expect((error as Stripe.errors.StripeError).raw).toMatchObject({ type: "invalid_request_error", message: "Received unknown parameter: favourite_colour" });
    expect((await stripe.charges.retrieve(charged.id)).amount_refunded).toBe(before.amount_refunded);
  });

  it("are refused when nested, and on reads as well as writes", async () => {
    const nested = await stripe.checkout.sessions
      .create({ mode: "payment", success_url: "https://app.test/ok", line_items: [{ quantity: 1, colour: "red" }] } as unknown as Stripe.Checkout.SessionCreateParams)
      .catch((e: unknown) => e);
    expect(nested).toMatchObject({ statusCode: 400, code: "parameter_unknown", param: "line_items[0][colour]" });
    const read = await stripe.transfers.list({ shade: "dark" } as Stripe.TransferListParams).catch((e: unknown) => e);
    expect(read).toMatchObject({ statusCode: 400, code: "parameter_unknown", param: "shade" });
  });

  it("leave metadata's free-form keys and expand alone", () => {
    expect(() => checkParams("POST /v1/customers", { metadata: { anything: "goes" }, expand: ["invoice_settings"] })).not.toThrow();
    expect(() => checkParams("POST /v1/customers", { metadata: { anything: "goes" }, nope: "1" })).toThrow("Received unknown parameter: nope");
  });
});

/**
 * The SDK's own types are generated from the spec of the API version it pins (2026-10-28.endive),
 * which the extracted schema is older than: a property the types declare without `?` is one Stripe
 * always sends, and one typed without `| null` is never null. Both are checked at the top level of
 * every object the stand-in returns, and of the objects nested in its lists.
 */
const SDK_RESOURCES = join(dirname(createRequire(import.meta.url).resolve("stripe")), "..", "esm", "resources");

function sdkFields(file: string, name: string): Map<string, { nullable: boolean }> {
  const source = ts.createSourceFile(file, readFileSync(join(SDK_RESOURCES, file), "utf8"), ts.ScriptTarget.Latest, true);
  const declaration = source.statements.find((statement) => ts.isInterfaceDeclaration(statement) && statement.name.text === name) as ts.InterfaceDeclaration | undefined;
  if (!declaration) throw new Error(`stripe's ${file} declares no ${name}`);
  const fields = new Map<string, { nullable: boolean }>();
  for (const member of declaration.members) {
    if (!ts.isPropertySignature(member) || member.questionToken || !member.type) continue;
    fields.set(member.name.getText(source), { nullable: /\bnull\b/.test(member.type.getText(source)) });
  }
  return fields;
}

function sdkErrors(file: string, name: string, value: unknown, path: string): string[] {
  const object = value as Record<string, unknown>;
  const errors: string[] = [];
  for (const [field, { nullable }] of sdkFields(file, name)) {
    if (!(field in object)) errors.push(`${path}.${field}: declared by Stripe.${name} but missing`);
    else if (object[field] === null && !nullable) errors.push(`${path}.${field}: null, but Stripe.${name} does not allow null`);
  }
  return errors;
}

const SDK_TYPES: Record<string, [file: string, name: string]> = {
  "/v1/customers": ["Customers.d.ts", "Customer"],
  "/v1/prices": ["Prices.d.ts", "Price"],
  "/v1/checkout/sessions": ["Checkout/Sessions.d.ts", "Session"],
  "/v1/payment_intents": ["PaymentIntents.d.ts", "PaymentIntent"],
  "/v1/charges": ["Charges.d.ts", "Charge"],
  "/v1/disputes": ["Disputes.d.ts", "Dispute"],
  "/v1/invoices": ["Invoices.d.ts", "Invoice"],
  "/v1/refunds": ["Refunds.d.ts", "Refund"],
  "/v1/subscriptions": ["Subscriptions.d.ts", "Subscription"],
  "/v1/accounts": ["Accounts.d.ts", "Account"],
  "/v1/account_links": ["AccountLinks.d.ts", "AccountLink"],
  "/v1/transfers": ["Transfers.d.ts", "Transfer"],
  "/v1/events": ["Events.d.ts", "EventBase"],
};
/** Objects inside lists, by the list object's `object` of its parent and the field holding the list. */
const SDK_LIST_ITEMS: Record<string, [file: string, name: string]> = {
  "checkout.session.line_items": ["LineItems.d.ts", "LineItem"],
  "invoice.lines": ["InvoiceLineItems.d.ts", "InvoiceLineItem"],
  "subscription.items": ["SubscriptionItems.d.ts", "SubscriptionItem"],
};

function pinnedVersionErrors(operation: string, body: unknown): string[] {
  const path = operation.split(" ")[1] ?? "";
  if (path.endsWith("/line_items")) return (body as { data: unknown[] }).data.flatMap((item, i) => sdkErrors("LineItems.d.ts", "LineItem", item, `$.data[${i}]`));
  const type = Object.entries(SDK_TYPES).find(([prefix]) => path === prefix || path.startsWith(`${prefix}/`))?.[1];
  if (!type) throw new Error(`no SDK type for ${operation}`);
  const list = body as { object: string; data?: unknown[] };
  const objects = list.object === "list" ? (list.data ?? []).map((item, i) => [item, `$.data[${i}]`] as const) : [[body, "$"] as const];
  return objects.flatMap(([object, at]) => {
    const errors = sdkErrors(type[0], type[1], object, at);
    for (const [key, [file, name]] of Object.entries(SDK_LIST_ITEMS)) {
      const [objectType, field] = [key.slice(0, key.lastIndexOf(".")), key.slice(key.lastIndexOf(".") + 1)];
      const record = object as Record<string, { data?: unknown[] } | undefined>;
      if ((object as { object: string }).object !== objectType) continue;
      (record[field]?.data ?? []).forEach((item, i) => {
        errors.push(...sdkErrors(file, name, item, `${at}.${field}.data[${i}]`));
      });
    }
    return errors;
  });
}

describe("the API version the SDK pins", () => {
  it("finds a field missing and a null where the SDK's types allow none", () => {
    const customer = answers.find((answer) => answer.operation === "POST /v1/customers")?.body as Record<string, unknown>;
    const { invoice_settings: _settings, ...without } = customer;
    expect(pinnedVersionErrors("POST /v1/customers", without)).toEqual(["$.invoice_settings: declared by Stripe.Customer but missing"]);
    expect(pinnedVersionErrors("POST /v1/customers", { ...customer, created: null })).toEqual(["$.created: null, but Stripe.Customer does not allow null"]);
  });

  it.each(STANDIN_ENDPOINTS.map(({ method, path }) => `${method} ${path}`))("%s answers with every field the SDK's types declare", (operation) => {
    // The flow in beforeAll (the SDK throws on any other status); the refusals tested above are not objects.
    const mine = answers.filter((answer) => answer.operation === operation && answer.status === 200);
    expect(mine.length).toBeGreaterThan(0);
    for (const answer of mine) expect(pinnedVersionErrors(operation, answer.body)).toEqual([]);
  });
});
