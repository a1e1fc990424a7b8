import { invalidParam } from "./errors";
import { recordEvent } from "./events";
import type { Params } from "./form";
import { type Account, listOf, newId, nowSeconds, type Transfer } from "./objects";
import { metadataParam, optionalEnum, optionalHash, optionalString, requiredEnum, requiredInteger, requiredString } from "./params";
import { currencyParam } from "./prices";
import { findReferenced, type StandinState, type StoredEvent } from "./state";

/** What Stripe still wants from an account holder who has not onboarded yet. */
const ONBOARDING_DUE = ["external_account", "tos_acceptance.date", "tos_acceptance.ip"];
const ACCOUNT_LINK_LIFETIME_S = 5 * 60;

/** The answer to POST /v1/account_links. */
export type AccountLink = { object: "account_link"; created: number; expires_at: number; url: string };

/** Capabilities the request asks for (`capabilities[transfers][requested]=true`), each inactive until onboarding. */
function requestedCapabilities(params: Params): Account["capabilities"] {
  const requested = optionalHash(params, "capabilities") ?? {};
  const capabilities: Account["capabilities"] = {};
  for (const [name, value] of Object.entries(requested)) {
    const asked = typeof value === "object" && value !== null && String((value as Params).requested) === "true";
    if (asked) capabilities[name] = "inactive";
  }
  return capabilities;
}

/** POST /v1/accounts: a connected account that can receive nothing until its holder onboards. */
export function createAccount(state: StandinState, params: Params): Account {
  const account: Account = {
    id: newId("acct_"),
    object: "account",
    created: nowSeconds(),
    type: optionalEnum(params, "type", ["express", "standard", "custom"] as const) ?? "standard",
    email: optionalString(params, "email") ?? null,
    country: optionalString(params, "country") ?? "US",
    default_currency: optionalString(params, "default_currency") ?? "usd",
    metadata: metadataParam(params),
    charges_enabled: false,
    payouts_enabled: false,
    details_submitted: false,
    capabilities: requestedCapabilities(params),
    requirements: { currently_due: [...ONBOARDING_DUE], eventually_due: [...ONBOARDING_DUE], past_due: [...ONBOARDING_DUE], disabled_reason: "requirements.past_due" },
  };
  state.accounts[account.id] = account;
  return account;
}

/** POST /v1/account_links: a short-lived link to this stand-in's onboarding page; the return_url is kept for when onboarding finishes. */
export function createAccountLink(state: StandinState, params: Params, baseUrl: string): AccountLink {
  const accountId = requiredString(params, "account");
  findReferenced(state.accounts, accountId, "account", "account");
  requiredEnum(params, "type", ["account_onboarding", "account_update"] as const);
  const returnUrl = requiredString(params, "return_url");
  const refreshUrl = optionalString(params, "refresh_url") ?? null;
  for (const [name, url] of [
    ["return_url", returnUrl],
    ["refresh_url", refreshUrl],
  ] as const) {
    if (url !== null && !URL.canParse(url)) throw invalidParam(name, "Not a valid URL", "url_invalid");
  }
  state.onboardingReturns[accountId] = { returnUrl, refreshUrl };
  const created = nowSeconds();
  return {
    object: "account_link",
    created,
    expires_at: created + ACCOUNT_LINK_LIFETIME_S,
    url: `${baseUrl}/connect/onboard/${accountId}?return_url=${encodeURIComponent(returnUrl)}`,
  };
}

/** The holder finishes onboarding: charges and payouts enabled, capabilities (transfers at least) active; `account.updated` with what changed. */
export function completeOnboarding(state: StandinState, account: Account): StoredEvent[] {
  if (account.details_submitted && account.payouts_enabled) return [];
  const previous = {
    charges_enabled: account.charges_enabled,
    payouts_enabled: account.payouts_enabled,
    details_submitted: account.details_submitted,
    capabilities: { ...account.capabilities },
    requirements: structuredClone(account.requirements),
  };
  account.charges_enabled = true;
  account.payouts_enabled = true;
  account.details_submitted = true;
  account.capabilities = Object.fromEntries([...Object.keys(account.capabilities), "transfers"].map((name) => [name, "active" as const]));
  account.requirements = { currently_due: [], eventually_due: [], past_due: [], disabled_reason: null };
  return [recordEvent(state, "account.updated", account, previous)];
}

/**
 * POST /v1/transfers: moves money to a connected account. Refused, as Stripe does, while the
 * destination cannot receive transfers (it has not finished onboarding).
 */
export function createTransfer(state: StandinState, params: Params): Transfer {
  const amount = requiredInteger(params, "amount");
  if (amount < 1) throw invalidParam("amount", "This value must be greater than or equal to 1.");
  const currency = currencyParam(params, "");
  const destinationId = requiredString(params, "destination");
  const destination = findReferenced(state.accounts, destinationId, "destination", "destination");
  if (!destination.payouts_enabled || destination.capabilities.transfers !== "active") {
    throw invalidParam(
      "destination",
      "Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments",
      "insufficient_capabilities_for_transfer",
    );
  }
  const id = newId("tr_");
  const transfer: Transfer = {
    id,
    object: "transfer",
    created: nowSeconds(),
    livemode: false,
    amount,
    amount_reversed: 0,
    currency,
    description: optionalString(params, "description") ?? null,
    destination: destination.id,
    metadata: metadataParam(params),
    reversed: false,
    reversals: listOf([], `/v1/transfers/${id}/reversals`),
    transfer_group: optionalString(params, "transfer_group") ?? null,
    balance_transaction: null,
    source_transaction: null,
  };
  state.transfers[transfer.id] = transfer;
  return transfer;
}
