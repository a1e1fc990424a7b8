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

// Fields the pinned API version (the SDK's types) declares on every object but the stand-in has no
// use for: Stripe sends null (or an empty list, zero) when they are unused, and so does the stand-in.

/** Stripe.Checkout.Session fields the stand-in does not model, as Stripe sends them when unused. */
export const SESSION_UNMODELLED = {
  adaptive_pricing: null,
  after_expiration: null,
  allow_promotion_codes: null,
  allowed_payment_method_types: null,
  billing_address_collection: null,
  collected_information: null,
  consent: null,
  consent_collection: null,
  currency_conversion: null,
  customer_account: null,
  customer_creation: null,
  discounts: null,
  integration_identifier: null,
  invoice_creation: null,
  managed_payments: null,
  origin_context: null,
  payment_link: null,
  payment_method_collection: null,
  payment_method_configuration_details: null,
  payment_method_options: null,
  permissions: null,
  recovered_from: null,
  saved_payment_method_options: null,
  setup_intent: null,
  shipping_address_collection: null,
  shipping_cost: null,
  submit_type: null,
  wallet_options: null,
} as const;

/** Stripe.Customer fields the stand-in does not model, as Stripe sends them when unused. */
export const CUSTOMER_UNMODELLED = {
  default_source: null,
  invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
  shipping: null,
} as const;

/** Stripe.Price fields the stand-in does not model, as Stripe sends them when unused. */
export const PRICE_UNMODELLED = {
  custom_unit_amount: null,
  lookup_key: null,
  nickname: null,
  tax_behavior: null,
  tiers_mode: null,
  transform_quantity: null,
  unit_amount_decimal: null,
} as const;

/** Stripe.LineItem fields the stand-in does not model, as Stripe sends them when unused. */
export const LINE_ITEM_UNMODELLED = {
  adjustable_quantity: null,
  metadata: null,
} as const;

/** Stripe.PaymentIntent fields the stand-in does not model, as Stripe sends them when unused. */
export const PAYMENT_INTENT_UNMODELLED = {
  allowed_payment_method_types: null,
  amount_capturable: 0,
  application: null,
  application_fee_amount: null,
  automatic_payment_methods: null,
  canceled_at: null,
  cancellation_reason: null,
  client_secret: null,
  customer_account: null,
  excluded_payment_method_types: null,
  last_payment_error: null,
  managed_payments: null,
  next_action: null,
  on_behalf_of: null,
  payment_method: null,
  payment_method_configuration_details: null,
  payment_method_options: null,
  payment_record: null,
  processing: null,
  receipt_email: null,
  review: null,
  setup_future_usage: null,
  shipping: null,
  source: null,
  statement_descriptor: null,
  statement_descriptor_suffix: null,
  transfer_group: null,
} as const;

/** Stripe.Charge fields the stand-in does not model, as Stripe sends them when unused. */
export const CHARGE_UNMODELLED = {
  application: null,
  application_fee: null,
  application_fee_amount: null,
  balance_transaction: null,
  calculated_statement_descriptor: null,
  failure_balance_transaction: null,
  failure_code: null,
  failure_message: null,
  fraud_details: null,
  on_behalf_of: null,
  outcome: null,
  payment_method: null,
  payment_method_details: null,
  receipt_email: null,
  receipt_number: null,
  receipt_url: null,
  review: null,
  shipping: null,
  source: null,
  source_transfer: null,
  statement_descriptor: null,
  statement_descriptor_suffix: null,
  transfer_data: null,
  transfer_group: null,
} as const;

/** Stripe.Refund fields the stand-in does not model, as Stripe sends them when unused. */
export const REFUND_UNMODELLED = {
  balance_transaction: null,
  customer: null,
  customer_account: null,
  payment_method: null,
  receipt_number: null,
  source_transfer_reversal: null,
  transfer_reversal: null,
} as const;

/** Stripe.Dispute fields the stand-in does not model, as Stripe sends them when unused. */
export const DISPUTE_UNMODELLED = {
  enhanced_eligibility_types: [],
  intended_submission_method: null,
} as const;

/** Stripe.Subscription fields the stand-in does not model, as Stripe sends them when unused. */
export const SUBSCRIPTION_UNMODELLED = {
  application: null,
  application_fee_percent: null,
  billing_cycle_anchor_config: null,
  billing_mode: { flexible: null, type: "classic" },
  billing_schedules: [],
  billing_thresholds: null,
  cancel_at: null,
  cancellation_details: null,
  customer_account: null,
  days_until_due: null,
  default_payment_method: null,
  default_source: null,
  description: null,
  discounts: [],
  invoice_settings: { account_tax_ids: null, issuer: { type: "self" } },
  managed_payments: null,
  next_pending_invoice_item_invoice: null,
  on_behalf_of: null,
  pause_collection: null,
  payment_settings: null,
  pending_invoice_item_interval: null,
  pending_setup_intent: null,
  pending_update: null,
  schedule: null,
  test_clock: null,
  transfer_data: null,
  trial_end: null,
  trial_settings: null,
  trial_start: null,
} as const;

/** Stripe.SubscriptionItem fields the stand-in does not model, as Stripe sends them when unused. */
export const SUBSCRIPTION_ITEM_UNMODELLED = {
  billing_thresholds: null,
  current_trial: null,
  discounts: [],
  tax_rates: null,
} as const;

/** Stripe.Invoice fields the stand-in does not model, as Stripe sends them when unused. */
export const INVOICE_UNMODELLED = {
  account_country: null,
  account_name: null,
  account_tax_ids: null,
  amount_overpaid: 0,
  application: null,
  automatically_finalizes_at: null,
  custom_fields: null,
  customer_account: null,
  customer_address: null,
  customer_email: null,
  customer_name: null,
  customer_phone: null,
  customer_shipping: null,
  customer_tax_exempt: null,
  default_payment_method: null,
  default_source: null,
  description: null,
  discounts: [],
  due_date: null,
  effective_at: null,
  ending_balance: null,
  footer: null,
  from_invoice: null,
  issuer: { type: "self" },
  last_finalization_error: null,
  latest_revision: null,
  next_payment_attempt: null,
  number: null,
  on_behalf_of: null,
  receipt_number: null,
  rendering: null,
  shipping_cost: null,
  shipping_details: null,
  statement_descriptor: null,
  subtotal_excluding_tax: null,
  test_clock: null,
  total_discount_amounts: null,
  total_excluding_tax: null,
  total_pretax_credit_amounts: null,
  total_taxes: null,
  webhooks_delivered_at: null,
} as const;

/** Stripe.InvoiceLineItem fields the stand-in does not model, as Stripe sends them when unused. */
export const INVOICE_LINE_UNMODELLED = {
  discount_amounts: null,
  discounts: [],
  parent: null,
  pretax_credit_amounts: null,
  pricing: null,
  quantity_decimal: null,
  taxes: null,
} as const;

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
