/**
 * The Stripe API endpoints the stand-in serves (api.ts), named as Stripe's OpenAPI spec names them.
 * extract-schema.ts takes their parameters and responses from the spec; the stand-in refuses
 * parameters the spec does not list for them (schema.ts).
 */
export const STANDIN_ENDPOINTS = [
  { method: "POST", path: "/v1/customers" },
  { method: "GET", path: "/v1/customers/{customer}" },
  { method: "POST", path: "/v1/prices" },
  { method: "GET", path: "/v1/prices/{price}" },
  { method: "POST", path: "/v1/checkout/sessions" },
  { method: "GET", path: "/v1/checkout/sessions/{session}" },
  { method: "GET", path: "/v1/checkout/sessions/{session}/line_items" },
  { method: "POST", path: "/v1/checkout/sessions/{session}/expire" },
  { method: "GET", path: "/v1/payment_intents/{intent}" },
  { method: "GET", path: "/v1/charges/{charge}" },
  { method: "GET", path: "/v1/disputes/{dispute}" },
  { method: "GET", path: "/v1/invoices/{invoice}" },
  { method: "POST", path: "/v1/refunds" },
  { method: "GET", path: "/v1/refunds/{refund}" },
  { method: "GET", path: "/v1/subscriptions/{subscription_exposed_id}" },
  { method: "DELETE", path: "/v1/subscriptions/{subscription_exposed_id}" },
  { method: "POST", path: "/v1/accounts" },
  { method: "GET", path: "/v1/accounts/{account}" },
  { method: "POST", path: "/v1/account_links" },
  { method: "POST", path: "/v1/transfers" },
  { method: "GET", path: "/v1/transfers" },
  { method: "GET", path: "/v1/transfers/{transfer}" },
  { method: "GET", path: "/v1/events" },
  { method: "GET", path: "/v1/events/{id}" },
] as const;

export type StandinEndpoint = (typeof STANDIN_ENDPOINTS)[number];
