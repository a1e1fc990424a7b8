import { invalidParam, missingParam } from "./errors";
import type { Params } from "./form";
import { type Interval, newId, nowSeconds, PRICE_UNMODELLED, type Price, type Product } from "./objects";
import { metadataParam, optionalArray, optionalHash, optionalInteger, optionalString, paramName, requiredEnum, requiredInteger, requiredString } from "./params";
import { findReferenced, type StandinState } from "./state";

const INTERVALS: readonly Interval[] = ["day", "week", "month", "year"];

/** A three-letter lowercase ISO currency code parameter. */
export function currencyParam(params: Params, prefix: string): string {
  const currency = requiredString(params, "currency", prefix).toLowerCase();
  if (!/^[a-z]{3}$/.test(currency)) throw invalidParam(paramName(prefix, "currency"), `Invalid currency: ${currency}.`);
  return currency;
}

function productFor(state: StandinState, params: Params, prefix: string): Product {
  const existing = optionalString(params, "product", prefix);
  if (existing) return findReferenced(state.products, existing, "product", paramName(prefix, "product"));
  const data = optionalHash(params, "product_data", prefix);
  const dataPrefix = paramName(prefix, "product_data");
  if (!data) throw missingParam(dataPrefix);
  const product: Product = {
    id: newId("prod_"),
    object: "product",
    active: true,
    created: nowSeconds(),
    livemode: false,
    name: requiredString(data, "name", dataPrefix),
    description: optionalString(data, "description", dataPrefix) ?? null,
    images: (optionalArray(data, "images", dataPrefix) ?? []).map(String),
    metadata: metadataParam(data, dataPrefix),
  };
  state.products[product.id] = product;
  return product;
}

/**
 * A price from its definition: `line_items[i][price_data]` or the body of POST /v1/prices
 * (currency, unit_amount, recurring{interval, interval_count}, and product or product_data).
 * A product given as product_data is created and kept, so line items can show its name.
 */
export function priceFromParams(state: StandinState, params: Params, prefix = ""): Price {
  const currency = currencyParam(params, prefix);
  const unitAmount = requiredInteger(params, "unit_amount", prefix);
  const recurringParams = optionalHash(params, "recurring", prefix);
  const recurringPrefix = paramName(prefix, "recurring");
  const recurring = recurringParams
    ? {
        interval: requiredEnum(recurringParams, "interval", INTERVALS, recurringPrefix),
        interval_count: optionalInteger(recurringParams, "interval_count", recurringPrefix) ?? 1,
        usage_type: "licensed" as const,
        aggregate_usage: null,
      }
    : null;
  return {
    id: newId("price_"),
    object: "price",
    ...PRICE_UNMODELLED,
    active: true,
    created: nowSeconds(),
    livemode: false,
    currency,
    unit_amount: unitAmount,
    billing_scheme: "per_unit",
    product: productFor(state, params, prefix).id,
    recurring,
    type: recurring ? "recurring" : "one_time",
    metadata: metadataParam(params, prefix),
  };
}
