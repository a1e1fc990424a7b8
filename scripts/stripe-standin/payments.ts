import { invalidParam, invalidRequest, missingParam } from "./errors";
import { recordEvent } from "./events";
import type { Params } from "./form";
import {
  CHARGE_UNMODELLED,
  type Charge,
  DISPUTE_EVIDENCE_FIELDS,
  DISPUTE_UNMODELLED,
  type Dispute,
  type Metadata,
  newId,
  nowSeconds,
  PAYMENT_INTENT_UNMODELLED,
  type PaymentIntent,
  REFUND_UNMODELLED,
  type Refund,
} from "./objects";
import { metadataParam, optionalEnum, optionalInteger, optionalString } from "./params";
import { findReferenced, type StandinState, type StoredEvent } from "./state";

const DISPUTE_RESPONSE_DAYS = 7;

/** A PaymentIntent for a checkout payment, not yet charged. */
export function createPaymentIntent(
  state: StandinState,
  fields: { amount: number; currency: string; customer: string | null; metadata: Metadata; status: PaymentIntent["status"] },
): PaymentIntent {
  const intent: PaymentIntent = {
    id: newId("pi_"),
    object: "payment_intent",
    ...PAYMENT_INTENT_UNMODELLED,
    created: nowSeconds(),
    livemode: false,
    amount: fields.amount,
    amount_received: 0,
    currency: fields.currency,
    customer: fields.customer,
    description: null,
    latest_charge: null,
    metadata: { ...fields.metadata },
    payment_method_types: ["card"],
    capture_method: "automatic",
    confirmation_method: "automatic",
    status: fields.status,
  };
  state.paymentIntents[intent.id] = intent;
  return intent;
}

/** Charges the PaymentIntent in full: a succeeded Charge carrying the intent's metadata; the intent succeeds. */
export function chargePaymentIntent(state: StandinState, intent: PaymentIntent): Charge {
  const charge: Charge = {
    id: newId("ch_"),
    object: "charge",
    ...CHARGE_UNMODELLED,
    created: nowSeconds(),
    livemode: false,
    amount: intent.amount,
    amount_captured: intent.amount,
    amount_refunded: 0,
    billing_details: { address: null, email: null, name: null, phone: null },
    captured: true,
    currency: intent.currency,
    customer: intent.customer,
    description: null,
    disputed: false,
    metadata: { ...intent.metadata },
    paid: true,
    payment_intent: intent.id,
    refunded: false,
    status: "succeeded",
  };
  state.charges[charge.id] = charge;
  intent.status = "succeeded";
  intent.amount_received = intent.amount;
  intent.latest_charge = charge.id;
  return charge;
}

/** The charge a refund request names, by `charge` or by `payment_intent` (its latest charge). */
function chargeToRefund(state: StandinState, params: Params): Charge {
  const chargeId = optionalString(params, "charge");
  if (chargeId) return findReferenced(state.charges, chargeId, "charge", "charge");
  const intentId = optionalString(params, "payment_intent");
  if (!intentId) throw missingParam("payment_intent");
  const intent = findReferenced(state.paymentIntents, intentId, "payment_intent", "payment_intent");
  const charge = intent.latest_charge ? state.charges[intent.latest_charge] : undefined;
  if (!charge) throw invalidParam("payment_intent", `This PaymentIntent (${intent.id}) does not have a successful charge to refund.`);
  return charge;
}

/**
 * POST /v1/refunds: refunds `amount` (default: all that is left) of a charge at once. The charge's
 * amount_refunded and refunded follow, and `charge.refunded` carries the updated charge.
 */
export function createRefund(state: StandinState, params: Params): { refund: Refund; events: StoredEvent[] } {
  const charge = chargeToRefund(state, params);
  const remaining = charge.amount - charge.amount_refunded;
  if (remaining === 0) throw invalidRequest(`Charge ${charge.id} has already been refunded.`, "charge_already_refunded");
  const amount = optionalInteger(params, "amount") ?? remaining;
  if (amount < 1 || amount > remaining) {
    throw invalidParam("amount", `Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining}).`);
  }
  const refund: Refund = {
    id: newId("re_"),
    object: "refund",
    ...REFUND_UNMODELLED,
    created: nowSeconds(),
    amount,
    charge: charge.id,
    payment_intent: charge.payment_intent,
    currency: charge.currency,
    metadata: metadataParam(params),
    reason: optionalEnum(params, "reason", ["duplicate", "fraudulent", "requested_by_customer"]) ?? null,
    status: "succeeded",
  };
  state.refunds[refund.id] = refund;
  const previous = { amount_refunded: charge.amount_refunded, refunded: charge.refunded };
  charge.amount_refunded += amount;
  charge.refunded = charge.amount_refunded === charge.amount;
  return { refund, events: [recordEvent(state, "charge.refunded", charge, previous)] };
}

/** The customer disputes a charge with their bank: a Dispute awaiting our response, and `charge.dispute.created`. */
export function disputeCharge(state: StandinState, charge: Charge, reason: string): StoredEvent[] {
  if (charge.disputed) throw invalidRequest(`Charge ${charge.id} is already disputed.`, "charge_disputed");
  const created = nowSeconds();
  const dispute: Dispute = {
    id: newId("dp_"),
    object: "dispute",
    ...DISPUTE_UNMODELLED,
    created,
    livemode: false,
    amount: charge.amount,
    charge: charge.id,
    payment_intent: charge.payment_intent,
    currency: charge.currency,
    reason,
    status: "needs_response",
    is_charge_refundable: false,
    metadata: {},
    balance_transactions: [],
    evidence: Object.fromEntries(DISPUTE_EVIDENCE_FIELDS.map((field) => [field, null])) as Dispute["evidence"],
    evidence_details: { due_by: created + DISPUTE_RESPONSE_DAYS * 86_400, has_evidence: false, past_due: false, submission_count: 0 },
  };
  state.disputes[dispute.id] = dispute;
  charge.disputed = true;
  return [recordEvent(state, "charge.dispute.created", dispute)];
}
