import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { noSuchObject, noSuchReference } from "./errors";
import type { Account, Charge, CheckoutSession, Customer, Dispute, Invoice, LineItem, Metadata, PaymentIntent, Price, Product, Refund, Subscription, Transfer } from "./objects";

/** An event as it was sent: `payload` is the exact JSON delivered and signed. */
export type StoredEvent = { id: string; type: string; created: number; payload: string };

/** What a Checkout Session was created with that the session object itself does not show. */
export type SessionTerms = { lineItems: LineItem[]; paymentIntentMetadata: Metadata; subscriptionMetadata: Metadata };

/** The answer stored under an Idempotency-Key, replayed as is. */
export type IdempotentAnswer = { fingerprint: string; savedAt: number; status: number; body: string };

/** Where an onboarding link sends the account holder back to. */
export type OnboardingReturn = { returnUrl: string; refreshUrl: string | null };

/** Everything the stand-in knows; plain JSON so it can be written to disk and read back. */
export type StandinState = {
  customers: Record<string, Customer>;
  products: Record<string, Product>;
  prices: Record<string, Price>;
  checkoutSessions: Record<string, CheckoutSession>;
  sessionTerms: Record<string, SessionTerms>;
  paymentIntents: Record<string, PaymentIntent>;
  charges: Record<string, Charge>;
  refunds: Record<string, Refund>;
  disputes: Record<string, Dispute>;
  subscriptions: Record<string, Subscription>;
  invoices: Record<string, Invoice>;
  accounts: Record<string, Account>;
  onboardingReturns: Record<string, OnboardingReturn>;
  transfers: Record<string, Transfer>;
  events: StoredEvent[];
  idempotency: Record<string, IdempotentAnswer>;
};

/** A stand-in with nothing in it. */
export function emptyState(): StandinState {
  return {
    customers: {},
    products: {},
    prices: {},
    checkoutSessions: {},
    sessionTerms: {},
    paymentIntents: {},
    charges: {},
    refunds: {},
    disputes: {},
    subscriptions: {},
    invoices: {},
    accounts: {},
    onboardingReturns: {},
    transfers: {},
    events: [],
    idempotency: {},
  };
}

/** The state saved at `path`, or an empty one when there is no file yet. */
export function loadState(path: string | undefined): StandinState {
  if (!path || !existsSync(path)) return emptyState();
  return { ...emptyState(), ...(JSON.parse(readFileSync(path, "utf8")) as Partial<StandinState>) };
}

/** Writes the state to `path` whole (a temporary file renamed over the old one, so a crash never leaves half a file). */
export function saveState(path: string, state: StandinState): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(state));
  renameSync(temporary, path);
}

/** Objects in a collection, newest first (insertion order reversed; `created` has only second resolution). */
export function newestFirst<T>(collection: Record<string, T>): T[] {
  return Object.values(collection).reverse();
}

/** The stored object with this id, whatever its kind (for `expand`). */
export function findAnyObject(state: StandinState, id: string): unknown {
  const collections = [
    state.customers,
    state.products,
    state.prices,
    state.checkoutSessions,
    state.paymentIntents,
    state.charges,
    state.refunds,
    state.disputes,
    state.subscriptions,
    state.invoices,
    state.accounts,
    state.transfers,
  ] as Record<string, unknown>[];
  return collections.find((collection) => Object.hasOwn(collection, id))?.[id];
}

/** The object `id` in `collection`, or a 404 naming the kind (for ids in the path). */
export function findOr404<T>(collection: Record<string, T>, id: string, kind: string): T {
  const found = Object.hasOwn(collection, id) ? collection[id] : undefined;
  if (found === undefined) throw noSuchObject(kind, id);
  return found;
}

/** The object `id` in `collection`, or a 400 naming the kind and the parameter (for ids in parameters). */
export function findReferenced<T>(collection: Record<string, T>, id: string, kind: string, param: string): T {
  const found = Object.hasOwn(collection, id) ? collection[id] : undefined;
  if (found === undefined) throw noSuchReference(kind, id, param);
  return found;
}

/** The stored event with this id, or a 404. */
export function findEvent(state: StandinState, id: string): StoredEvent {
  const event = state.events.find((stored) => stored.id === id);
  if (!event) throw noSuchObject("event", id);
  return event;
}
