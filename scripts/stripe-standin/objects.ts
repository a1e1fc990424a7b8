/**
 * The Stripe objects the stand-in keeps, with the documented fields the edge API and the SDK read
 * (https://docs.stripe.com/api). Every object is test mode: `livemode: false`.
 */
import { randomBytes } from "node:crypto";

export type Metadata = Record<string, string>;
export type Interval = "day" | "week" | "month" | "year";

/** Stripe's list envelope. */
export type StripeList<T> = { object: "list"; data: T[]; has_more: boolean; url: string };

export type Customer = {
  id: string;
  object: "customer";
  created: number;
  livemode: false;
  email: string | null;
  name: string | null;
  description: string | null;
  phone: null;
  address: null;
  balance: number;
  currency: string | null;
  delinquent: boolean;
  metadata: Metadata;
};

export type Price = {
  id: string;
  object: "price";
  active: boolean;
  created: number;
  livemode: false;
  currency: string;
  unit_amount: number;
  product: string;
  billing_scheme: "per_unit";
  recurring: { interval: Interval; interval_count: number; usage_type: "licensed"; aggregate_usage: null } | null;
  type: "one_time" | "recurring";
  metadata: Metadata;
};

export type Product = {
  id: string;
  object: "product";
  active: boolean;
  created: number;
  livemode: false;
  name: string;
  description: string | null;
  images: string[];
  metadata: Metadata;
};

/** A Checkout Session line item (`object: "item"`). */
export type LineItem = {
  id: string;
  object: "item";
  amount_discount: number;
  amount_subtotal: number;
  amount_tax: number;
  amount_total: number;
  currency: string;
  description: string;
  price: Price;
  quantity: number;
};

export type CheckoutSession = {
  id: string;
  object: "checkout.session";
  created: number;
  livemode: false;
  mode: "payment" | "subscription";
  status: "open" | "complete" | "expired";
  payment_status: "paid" | "unpaid";
  url: string | null;
  amount_subtotal: number;
  amount_total: number;
  currency: string;
  customer: string | null;
  customer_email: string | null;
  customer_details: { email: string | null; name: string | null } | null;
  client_reference_id: string | null;
  metadata: Metadata;
  payment_intent: string | null;
  subscription: string | null;
  invoice: string | null;
  success_url: string;
  cancel_url: string | null;
  expires_at: number;
  payment_method_types: string[];
  total_details: { amount_discount: number; amount_shipping: number; amount_tax: number };
  /** Hosted Checkout: no client_secret (embedded mode only), the browser's locale, no tax, no custom fields. */
  ui_mode: "hosted";
  client_secret: null;
  locale: null;
  automatic_tax: { enabled: false; status: null };
  custom_fields: [];
  custom_text: { after_submit: null; shipping_address: null; submit: null; terms_of_service_acceptance: null };
  shipping_options: [];
};

export type PaymentIntent = {
  id: string;
  object: "payment_intent";
  created: number;
  livemode: false;
  amount: number;
  amount_received: number;
  currency: string;
  customer: string | null;
  description: string | null;
  latest_charge: string | null;
  metadata: Metadata;
  payment_method_types: string[];
  capture_method: "automatic";
  confirmation_method: "automatic";
  status: "processing" | "succeeded" | "requires_payment_method";
};

export type Charge = {
  id: string;
  object: "charge";
  created: number;
  livemode: false;
  amount: number;
  amount_captured: number;
  amount_refunded: number;
  billing_details: { address: null; email: string | null; name: string | null; phone: null };
  captured: boolean;
  currency: string;
  customer: string | null;
  description: string | null;
  disputed: boolean;
  metadata: Metadata;
  paid: boolean;
  payment_intent: string;
  refunded: boolean;
  status: "succeeded";
};

export type Refund = {
  id: string;
  object: "refund";
  created: number;
  amount: number;
  charge: string;
  payment_intent: string;
  currency: string;
  metadata: Metadata;
  reason: string | null;
  status: "succeeded";
};

export type Dispute = {
  id: string;
  object: "dispute";
  created: number;
  livemode: false;
  amount: number;
  charge: string;
  payment_intent: string;
  currency: string;
  reason: string;
  status: "needs_response";
  is_charge_refundable: boolean;
  metadata: Metadata;
  balance_transactions: [];
  /** Nothing submitted yet: every evidence field null. */
  evidence: Record<(typeof DISPUTE_EVIDENCE_FIELDS)[number], null>;
  evidence_details: { due_by: number; has_evidence: boolean; past_due: boolean; submission_count: number };
};

export type SubscriptionItem = {
  id: string;
  object: "subscription_item";
  created: number;
  metadata: Metadata;
  price: Price;
  quantity: number;
  subscription: string;
  current_period_start: number;
  current_period_end: number;
};

export type Subscription = {
  id: string;
  object: "subscription";
  created: number;
  livemode: false;
  customer: string;
  status: "active" | "canceled";
  metadata: Metadata;
  cancel_at_period_end: boolean;
  canceled_at: number | null;
  ended_at: number | null;
  start_date: number;
  currency: string;
  collection_method: "charge_automatically";
  automatic_tax: { enabled: false };
  billing_cycle_anchor: number;
  latest_invoice: string | null;
  items: StripeList<SubscriptionItem>;
  current_period_start: number;
  current_period_end: number;
};

export type InvoiceLine = {
  id: string;
  object: "line_item";
  amount: number;
  currency: string;
  description: string;
  discountable: boolean;
  livemode: false;
  proration: boolean;
  quantity: number;
  metadata: Metadata;
  period: { start: number; end: number };
  type: "subscription";
};

export type Invoice = {
  id: string;
  object: "invoice";
  created: number;
  livemode: false;
  customer: string;
  currency: string;
  status: "paid";
  billing_reason: "subscription_create" | "subscription_cycle";
  amount_due: number;
  amount_paid: number;
  amount_remaining: number;
  amount_shipping: number;
  attempt_count: number;
  attempted: boolean;
  automatic_tax: { enabled: false; status: null };
  collection_method: "charge_automatically";
  default_tax_rates: [];
  paid: boolean;
  paid_out_of_band: boolean;
  payment_settings: { default_mandate: null; payment_method_options: null; payment_method_types: null };
  post_payment_credit_notes_amount: number;
  pre_payment_credit_notes_amount: number;
  starting_balance: number;
  total_tax_amounts: [];
  subtotal: number;
  total: number;
  metadata: Metadata;
  period_start: number;
  period_end: number;
  parent: {
    type: "subscription_details";
    quote_details: null;
    subscription_details: { subscription: string; metadata: Metadata };
  };
  lines: StripeList<InvoiceLine>;
  status_transitions: { finalized_at: number; paid_at: number };
};

export type Account = {
  id: string;
  object: "account";
  created: number;
  type: "express" | "standard" | "custom";
  email: string | null;
  country: string;
  default_currency: string;
  metadata: Metadata;
  charges_enabled: boolean;
  payouts_enabled: boolean;
  details_submitted: boolean;
  capabilities: Record<string, "active" | "inactive">;
  requirements: { currently_due: string[]; eventually_due: string[]; past_due: string[]; disabled_reason: string | null };
};

export type Transfer = {
  id: string;
  object: "transfer";
  created: number;
  livemode: false;
  amount: number;
  amount_reversed: number;
  currency: string;
  description: string | null;
  destination: string;
  metadata: Metadata;
  reversed: boolean;
  reversals: StripeList<never>;
  transfer_group: string | null;
  balance_transaction: null;
  source_transaction: null;
};

/** The fields of a dispute's `evidence` (https://docs.stripe.com/api/disputes/object#dispute_object-evidence). */
export const DISPUTE_EVIDENCE_FIELDS = [
  "access_activity_log",
  "billing_address",
  "cancellation_policy",
  "cancellation_policy_disclosure",
  "cancellation_rebuttal",
  "customer_communication",
  "customer_email_address",
  "customer_name",
  "customer_purchase_ip",
  "customer_signature",
  "duplicate_charge_documentation",
  "duplicate_charge_explanation",
  "duplicate_charge_id",
  "product_description",
  "receipt",
  "refund_policy",
  "refund_policy_disclosure",
  "refund_refusal_explanation",
  "service_date",
  "service_documentation",
  "shipping_address",
  "shipping_carrier",
  "shipping_date",
  "shipping_documentation",
  "shipping_tracking_number",
  "uncategorized_file",
  "uncategorized_text",
] as const;

const ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A Stripe-style id: the object's prefix and 24 random letters and digits, e.g. `cus_Q3x...`. */
export function newId(prefix: string): string {
  const letters = [...randomBytes(24)].map((byte) => ID_ALPHABET[byte % ID_ALPHABET.length]).join("");
  return `${prefix}${letters}`;
}

/** Now, in unix seconds (Stripe's `created`). */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * `start` moved on by `count` intervals, in unix seconds. Months and years keep the day of the
 * month, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29) as Stripe's billing does.
 */
export function addInterval(start: number, interval: Interval, count = 1): number {
  const date = new Date(start * 1000);
  if (interval === "day" || interval === "week") {
    date.setUTCDate(date.getUTCDate() + count * (interval === "week" ? 7 : 1));
    return Math.floor(date.getTime() / 1000);
  }
  const day = date.getUTCDate();
  date.setUTCDate(1);
  date.setUTCMonth(date.getUTCMonth() + count * (interval === "year" ? 12 : 1));
  const lastDay = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
  date.setUTCDate(Math.min(day, lastDay));
  return Math.floor(date.getTime() / 1000);
}

/** A list envelope over `data`. */
export function listOf<T>(data: T[], url: string, hasMore = false): StripeList<T> {
  return { object: "list", data, has_more: hasMore, url };
}
