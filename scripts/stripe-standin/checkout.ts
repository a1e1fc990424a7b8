import { startSubscription } from "./billing";
import { createCustomer } from "./customers";
import { invalidParam, invalidRequest, missingParam } from "./errors";
import { recordEvent } from "./events";
import type { Params } from "./form";
import { type CheckoutSession, LINE_ITEM_UNMODELLED, type LineItem, newId, nowSeconds, SESSION_UNMODELLED } from "./objects";
import { metadataParam, optionalArray, optionalHash, optionalInteger, optionalString, paramName, requiredEnum, requiredInteger, requiredString } from "./params";
import { chargePaymentIntent, createPaymentIntent } from "./payments";
import { priceFromParams } from "./prices";
import { findReferenced, type SessionTerms, type StandinState, type StoredEvent } from "./state";

/** How the customer pays on the checkout page: at once, or by a bank transfer that settles later. */
export type CheckoutOutcome = "paid" | "async";

const MODES = ["payment", "subscription"] as const;
const MIN_LIFETIME_S = 30 * 60;
const MAX_LIFETIME_S = 24 * 60 * 60;

function lineItemFrom(state: StandinState, value: unknown, index: number): LineItem {
  const prefix = `line_items[${index}]`;
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalidParam(prefix, `Invalid object: ${prefix} must be a hash.`);
  const params = value as Params;
  const priceId = optionalString(params, "price", prefix);
  const priceData = optionalHash(params, "price_data", prefix);
  if (priceId && priceData) throw invalidParam(prefix, "You may only specify one of these parameters: price, price_data.", "parameters_exclusive");
  if (!priceId && !priceData) throw missingParam(paramName(prefix, "price_data"));
  const price = priceId ? findReferenced(state.prices, priceId, "price", paramName(prefix, "price")) : priceFromParams(state, priceData ?? {}, paramName(prefix, "price_data"));
  const quantity = requiredInteger(params, "quantity", prefix);
  if (quantity < 1) throw invalidParam(paramName(prefix, "quantity"), "This value must be greater than or equal to 1.");
  const amount = price.unit_amount * quantity;
  return {
    id: newId("li_"),
    object: "item",
    ...LINE_ITEM_UNMODELLED,
    amount_discount: 0,
    amount_subtotal: amount,
    amount_tax: 0,
    amount_total: amount,
    currency: price.currency,
    description: state.products[price.product]?.name ?? "",
    price,
    quantity,
  };
}

/** Refuses line items Checkout refuses for the mode: recurring prices in payment mode, none in subscription mode, mixed currencies or intervals. */
function checkItemsFitMode(mode: CheckoutSession["mode"], items: LineItem[]): void {
  if (items.some((item) => item.currency !== items[0]?.currency)) throw invalidParam("line_items", "All line items must use the same currency.");
  const recurring = items.filter((item) => item.price.recurring);
  if (mode === "payment" && recurring.length > 0) {
    throw invalidParam(
      `line_items[${items.indexOf(recurring[0] as LineItem)}]`,
      "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
    );
  }
  if (mode === "subscription" && recurring.length === 0) {
    throw invalidParam("line_items", "You must provide at least one recurring price in `subscription` mode when using prices.");
  }
  const intervals = new Set(recurring.map((item) => `${item.price.recurring?.interval_count} ${item.price.recurring?.interval}`));
  if (intervals.size > 1) throw invalidParam("line_items", "Checkout does not support multiple prices with different billing intervals.");
}

function urlParam(params: Params, name: string, required: boolean): string | undefined {
  const value = required ? requiredString(params, name) : optionalString(params, name);
  if (value !== undefined && !URL.canParse(value)) throw invalidParam(name, "Not a valid URL", "url_invalid");
  return value;
}

function termsFrom(params: Params, mode: CheckoutSession["mode"], lineItems: LineItem[]): SessionTerms {
  const paymentIntentData = optionalHash(params, "payment_intent_data");
  const subscriptionData = optionalHash(params, "subscription_data");
  if (paymentIntentData && mode !== "payment") throw invalidParam("payment_intent_data", "payment_intent_data can only be used in payment mode.");
  if (subscriptionData && mode !== "subscription") throw invalidParam("subscription_data", "subscription_data can only be used in subscription mode.");
  return {
    lineItems,
    paymentIntentMetadata: metadataParam(paymentIntentData ?? {}, "payment_intent_data"),
    subscriptionMetadata: metadataParam(subscriptionData ?? {}, "subscription_data"),
  };
}

/**
 * POST /v1/checkout/sessions (https://docs.stripe.com/api/checkout/sessions/create). The session's
 * `url` is this stand-in's checkout page, where a developer or a test plays the customer.
 */
export function createCheckoutSession(state: StandinState, params: Params, baseUrl: string): CheckoutSession {
  const mode = requiredEnum(params, "mode", MODES);
  const rawItems = optionalArray(params, "line_items") ?? [];
  if (rawItems.length === 0) throw missingParam("line_items");
  const lineItems = rawItems.map((item, index) => lineItemFrom(state, item, index));
  checkItemsFitMode(mode, lineItems);
  const successUrl = urlParam(params, "success_url", true) as string;
  const cancelUrl = urlParam(params, "cancel_url", false) ?? null;
  const customer = optionalString(params, "customer");
  const customerEmail = optionalString(params, "customer_email") ?? null;
  if (customer) findReferenced(state.customers, customer, "customer", "customer");
  if (customer && customerEmail) throw invalidParam("customer_email", "You may only specify one of these parameters: customer, customer_email.", "parameters_exclusive");
  const created = nowSeconds();
  const expiresAt = optionalInteger(params, "expires_at") ?? created + MAX_LIFETIME_S;
  if (expiresAt < created + MIN_LIFETIME_S || expiresAt > created + MAX_LIFETIME_S) {
    throw invalidParam("expires_at", "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.");
  }
  const terms = termsFrom(params, mode, lineItems);
  const total = lineItems.reduce((sum, item) => sum + item.amount_total, 0);
  const id = newId("cs_test_");
  const session: CheckoutSession = {
    id,
    object: "checkout.session",
    ...SESSION_UNMODELLED,
    created,
    livemode: false,
    mode,
    status: "open",
    payment_status: "unpaid",
    url: `${baseUrl}/checkout/${id}`,
    amount_subtotal: total,
    amount_total: total,
    currency: lineItems[0]?.currency ?? "usd",
    customer: customer ?? null,
    customer_email: customerEmail,
    customer_details: null,
    client_reference_id: optionalString(params, "client_reference_id") ?? null,
    metadata: metadataParam(params),
    payment_intent: null,
    subscription: null,
    invoice: null,
    success_url: successUrl,
    cancel_url: cancelUrl,
    expires_at: expiresAt,
    payment_method_types: ["card"],
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: "hosted",
    client_secret: null,
    locale: null,
    automatic_tax: { enabled: false, status: null },
    custom_fields: [],
    custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    shipping_options: [],
  };
  state.checkoutSessions[id] = session;
  state.sessionTerms[id] = terms;
  return session;
}

/** Where the customer lands after paying: success_url with `{CHECKOUT_SESSION_ID}` filled in, as Stripe does. */
export function successRedirect(session: CheckoutSession): string {
  return session.success_url.replaceAll("{CHECKOUT_SESSION_ID}", session.id);
}

function assertOpen(session: CheckoutSession): void {
  if (session.status !== "open") throw invalidRequest(`This Checkout Session is ${session.status}; only open sessions can be paid.`);
  if (session.expires_at <= nowSeconds()) throw invalidRequest("This Checkout Session has passed its expires_at and can no longer be paid.");
}

function markComplete(session: CheckoutSession, paid: boolean): void {
  session.status = "complete";
  session.payment_status = paid ? "paid" : "unpaid";
  session.url = null;
}

function completePayment(state: StandinState, session: CheckoutSession, terms: SessionTerms, outcome: CheckoutOutcome): StoredEvent[] {
  const intent = createPaymentIntent(state, {
    amount: session.amount_total,
    currency: session.currency,
    customer: session.customer,
    metadata: terms.paymentIntentMetadata,
    status: "processing",
  });
  if (outcome === "paid") chargePaymentIntent(state, intent);
  session.payment_intent = intent.id;
  markComplete(session, outcome === "paid");
  return [recordEvent(state, "checkout.session.completed", session)];
}

function completeSubscription(state: StandinState, session: CheckoutSession, terms: SessionTerms): StoredEvent[] {
  // Subscriptions always belong to a customer: Checkout makes one when none was given.
  const customer = session.customer ?? createCustomer(state, { email: session.customer_email, name: null, metadata: {} }).id;
  session.customer = customer;
  const { subscription, invoice } = startSubscription(state, { customer, currency: session.currency, lineItems: terms.lineItems, metadata: terms.subscriptionMetadata });
  session.subscription = subscription.id;
  session.invoice = invoice.id;
  markComplete(session, true);
  return [
    recordEvent(state, "customer.subscription.created", subscription),
    recordEvent(state, "checkout.session.completed", session),
    recordEvent(state, "invoice.paid", invoice),
  ];
}

/**
 * The customer pays on the checkout page. Payment mode: a PaymentIntent, charged at once ("paid")
 * or left processing until the bank transfer settles ("async"). Subscription mode: the
 * subscription and its first paid invoice. Returns the events in the order Stripe sends them.
 */
export function completeCheckout(state: StandinState, session: CheckoutSession, outcome: CheckoutOutcome): StoredEvent[] {
  assertOpen(session);
  const terms = state.sessionTerms[session.id];
  if (!terms) throw invalidRequest(`Checkout Session ${session.id} has lost its line items.`);
  const customerEmail = session.customer_email ?? (session.customer ? (state.customers[session.customer]?.email ?? null) : null);
  session.customer_details = { email: customerEmail, name: null };
  if (session.mode === "payment") return completePayment(state, session, terms, outcome);
  if (outcome === "async") throw invalidParam("outcome", "Only payment-mode sessions can be paid by a transfer that settles later.");
  return completeSubscription(state, session, terms);
}

/** A delayed payment settles: succeeded charges the PaymentIntent and marks the session paid; failed leaves it unpaid. */
export function settleAsyncPayment(state: StandinState, session: CheckoutSession, succeed: boolean): StoredEvent[] {
  const intent = session.payment_intent ? state.paymentIntents[session.payment_intent] : undefined;
  if (session.status !== "complete" || !intent || intent.status !== "processing") {
    throw invalidRequest(`Checkout Session ${session.id} has no payment waiting to settle.`);
  }
  if (!succeed) {
    intent.status = "requires_payment_method";
    return [recordEvent(state, "checkout.session.async_payment_failed", session)];
  }
  chargePaymentIntent(state, intent);
  session.payment_status = "paid";
  return [recordEvent(state, "checkout.session.async_payment_succeeded", session)];
}

/** POST /v1/checkout/sessions/:id/expire: only an open session can expire; emits `checkout.session.expired`. */
export function expireCheckoutSession(state: StandinState, session: CheckoutSession): StoredEvent[] {
  if (session.status !== "open") {
    throw invalidRequest(`Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`);
  }
  session.status = "expired";
  session.url = null;
  return [recordEvent(state, "checkout.session.expired", session)];
}
