import type { Params } from "./form";
import { CUSTOMER_UNMODELLED, type Customer, type Metadata, newId, nowSeconds } from "./objects";
import { metadataParam, optionalString } from "./params";
import type { StandinState } from "./state";

/** Stores a new customer (https://docs.stripe.com/api/customers/object). */
export function createCustomer(state: StandinState, fields: { email: string | null; name: string | null; metadata: Metadata; description?: string | null }): Customer {
  const customer: Customer = {
    id: newId("cus_"),
    object: "customer",
    ...CUSTOMER_UNMODELLED,
    created: nowSeconds(),
    livemode: false,
    email: fields.email,
    name: fields.name,
    description: fields.description ?? null,
    phone: null,
    address: null,
    balance: 0,
    currency: null,
    delinquent: false,
    metadata: fields.metadata,
  };
  state.customers[customer.id] = customer;
  return customer;
}

/** POST /v1/customers: email, name, description, metadata; all optional. */
export function createCustomerFromParams(state: StandinState, params: Params): Customer {
  return createCustomer(state, {
    email: optionalString(params, "email") ?? null,
    name: optionalString(params, "name") ?? null,
    description: optionalString(params, "description") ?? null,
    metadata: metadataParam(params),
  });
}
