import { invalidRequest } from "./errors";
import { recordEvent } from "./events";
import {
  addInterval,
  INVOICE_LINE_UNMODELLED,
  INVOICE_UNMODELLED,
  type Invoice,
  type LineItem,
  listOf,
  type Metadata,
  newId,
  nowSeconds,
  type Price,
  SUBSCRIPTION_ITEM_UNMODELLED,
  SUBSCRIPTION_UNMODELLED,
  type Subscription,
  type SubscriptionItem,
} from "./objects";
import type { StandinState, StoredEvent } from "./state";

type InvoiceCharge = { description: string; amount: number; quantity: number };

/** A subscription item's legacy `plan`: its recurring price, in the Plan shape Stripe still sends. */
function planOf(price: Price) {
  return {
    id: price.id,
    object: "plan" as const,
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: String(price.unit_amount),
    billing_scheme: price.billing_scheme,
    created: price.created,
    currency: price.currency,
    interval: price.recurring?.interval ?? "month",
    interval_count: price.recurring?.interval_count ?? 1,
    livemode: false as const,
    metadata: price.metadata,
    meter: null,
    nickname: null,
    product: price.product,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: "licensed" as const,
  };
}

/** The end of the billing period that starts at `start` (all items share one interval; checkout enforces it). */
function periodEnd(subscription: Subscription, start: number): number {
  const recurring = subscription.items.data[0]?.price.recurring;
  return recurring ? addInterval(start, recurring.interval, recurring.interval_count) : start;
}

/** A paid invoice for the subscription's current period (https://docs.stripe.com/api/invoices/object). */
function issuePaidInvoice(state: StandinState, subscription: Subscription, reason: Invoice["billing_reason"], charges: InvoiceCharge[]): Invoice {
  const created = nowSeconds();
  const period = { start: subscription.current_period_start, end: subscription.current_period_end };
  const total = charges.reduce((sum, item) => sum + item.amount, 0);
  const invoiceId = newId("in_");
  const lines = charges.map((item) => ({
    id: newId("il_"),
    object: "line_item" as const,
    ...INVOICE_LINE_UNMODELLED,
    invoice: invoiceId,
    subscription: subscription.id,
    subtotal: item.amount,
    amount: item.amount,
    currency: subscription.currency,
    description: item.description,
    discountable: true,
    livemode: false as const,
    proration: false,
    quantity: item.quantity,
    metadata: {},
    period,
    type: "subscription" as const,
  }));
  const invoice: Invoice = {
    id: invoiceId,
    object: "invoice",
    ...INVOICE_UNMODELLED,
    created,
    livemode: false,
    customer: subscription.customer,
    currency: subscription.currency,
    status: "paid",
    billing_reason: reason,
    amount_due: total,
    amount_paid: total,
    amount_remaining: 0,
    amount_shipping: 0,
    attempt_count: 1,
    attempted: true,
    automatic_tax: { enabled: false, status: null },
    collection_method: "charge_automatically",
    default_tax_rates: [],
    paid: true,
    paid_out_of_band: false,
    payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    starting_balance: 0,
    total_tax_amounts: [],
    subtotal: total,
    total,
    metadata: {},
    period_start: period.start,
    period_end: period.end,
    parent: {
      type: "subscription_details",
      quote_details: null,
      subscription_details: { subscription: subscription.id, metadata: { ...subscription.metadata } },
    },
    lines: listOf(lines, `/v1/invoices/${invoiceId}/lines`),
    status_transitions: { finalized_at: created, paid_at: created },
  };
  state.invoices[invoice.id] = invoice;
  subscription.latest_invoice = invoice.id;
  return invoice;
}

/** One invoice line per subscription item, described the way Stripe does: "1 × Product name". */
function recurringCharges(state: StandinState, subscription: Subscription): InvoiceCharge[] {
  return subscription.items.data.map((item) => ({
    description: `${item.quantity} × ${state.products[item.price.product]?.name ?? item.price.product}`,
    amount: item.price.unit_amount * item.quantity,
    quantity: item.quantity,
  }));
}

/**
 * The subscription a subscription-mode Checkout Session buys: active from now for one interval of
 * its recurring prices, with a paid `subscription_create` invoice that also bills one-time items.
 */
export function startSubscription(
  state: StandinState,
  input: { customer: string; currency: string; lineItems: LineItem[]; metadata: Metadata },
): { subscription: Subscription; invoice: Invoice } {
  const start = nowSeconds();
  const subscriptionId = newId("sub_");
  const items: SubscriptionItem[] = input.lineItems
    .filter((line) => line.price.recurring)
    .map((line) => ({
      id: newId("si_"),
      object: "subscription_item",
      ...SUBSCRIPTION_ITEM_UNMODELLED,
      plan: planOf(line.price),
      created: start,
      metadata: {},
      price: line.price,
      quantity: line.quantity,
      subscription: subscriptionId,
      current_period_start: start,
      current_period_end: start,
    }));
  const subscription: Subscription = {
    id: subscriptionId,
    object: "subscription",
    ...SUBSCRIPTION_UNMODELLED,
    created: start,
    livemode: false,
    customer: input.customer,
    status: "active",
    metadata: { ...input.metadata },
    cancel_at_period_end: false,
    canceled_at: null,
    ended_at: null,
    start_date: start,
    currency: input.currency,
    collection_method: "charge_automatically",
    automatic_tax: { enabled: false },
    billing_cycle_anchor: start,
    latest_invoice: null,
    items: listOf(items, `/v1/subscription_items?subscription=${subscriptionId}`),
    current_period_start: start,
    current_period_end: start,
  };
  moveToPeriod(subscription, start);
  state.subscriptions[subscription.id] = subscription;
  const charges = input.lineItems.map((line) => ({ description: line.description, amount: line.amount_total, quantity: line.quantity }));
  return { subscription, invoice: issuePaidInvoice(state, subscription, "subscription_create", charges) };
}

/** Sets the subscription and each item to the period starting at `start`. */
function moveToPeriod(subscription: Subscription, start: number): void {
  const end = periodEnd(subscription, start);
  subscription.current_period_start = start;
  subscription.current_period_end = end;
  for (const item of subscription.items.data) {
    item.current_period_start = start;
    item.current_period_end = end;
  }
}

/**
 * Bills the next period now: the period moves on by one interval (start = the old end), a paid
 * `subscription_cycle` invoice is issued, and `customer.subscription.updated` then `invoice.paid` follow.
 */
export function renewSubscription(state: StandinState, subscription: Subscription): StoredEvent[] {
  if (subscription.status !== "active") throw invalidRequest(`Subscription ${subscription.id} is ${subscription.status} and cannot renew.`);
  const previous = {
    current_period_start: subscription.current_period_start,
    current_period_end: subscription.current_period_end,
    latest_invoice: subscription.latest_invoice,
    items: structuredClone(subscription.items),
  };
  moveToPeriod(subscription, subscription.current_period_end);
  const invoice = issuePaidInvoice(state, subscription, "subscription_cycle", recurringCharges(state, subscription));
  return [recordEvent(state, "customer.subscription.updated", subscription, previous), recordEvent(state, "invoice.paid", invoice)];
}

/** DELETE /v1/subscriptions/:id: cancels at once and emits `customer.subscription.deleted`. */
export function cancelSubscription(state: StandinState, subscription: Subscription): StoredEvent[] {
  if (subscription.status === "canceled") throw invalidRequest(`Subscription ${subscription.id} has already been canceled.`);
  const now = nowSeconds();
  subscription.status = "canceled";
  subscription.canceled_at = now;
  subscription.ended_at = now;
  return [recordEvent(state, "customer.subscription.deleted", subscription)];
}
