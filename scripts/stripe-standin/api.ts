import { type Context, Hono } from "hono";
import Stripe from "stripe";
import { requireApiKey } from "./auth";
import { cancelSubscription } from "./billing";
import { createCheckoutSession, expireCheckoutSession } from "./checkout";
import { createAccount, createAccountLink, createTransfer } from "./connect";
import { createCustomerFromParams } from "./customers";
import { expandObject } from "./expand";
import type { Params } from "./form";
import { idempotentRequests } from "./idempotency";
import { paginate } from "./lists";
import { type CheckoutSession, listOf, newId } from "./objects";
import { expandParam, optionalString } from "./params";
import { createRefund } from "./payments";
import { priceFromParams } from "./prices";
import { requestParams, type StandinContext } from "./request";
import { checkParams, operationFor } from "./schema";
import { findEvent, findOr404, newestFirst, type StoredEvent } from "./state";

/** Whether an event's type matches a `type` filter, where `*` is a wildcard (`checkout.session.*`). */
function typeMatches(type: string, filter: string | undefined): boolean {
  if (!filter) return true;
  const pattern = new RegExp(
    `^${filter
      .split("*")
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
  );
  return pattern.test(type);
}

function eventObject(event: StoredEvent): { id: string } {
  return JSON.parse(event.payload) as { id: string };
}

/**
 * The Stripe API endpoints the edge API uses, under /v1, following Stripe's documented contract:
 * form-encoded parameters, API-key auth, idempotency keys, `expand`, lists and Stripe's errors.
 * Events the API itself causes (refunds, expiries, cancellations) go to the webhook in the background.
 */
export function stripeApiRoutes(ctx: StandinContext, apiKey: string | undefined): Hono {
  const { state } = ctx;
  const api = new Hono();
  api.use("*", async (c, next) => {
    await next();
    // Stripe names every answer (errors included) with a request id, and the API version it used.
    c.header("request-id", newId("req_"));
    c.header("stripe-version", c.req.header("stripe-version") ?? Stripe.API_VERSION);
  });
  api.use("*", requireApiKey(apiKey));
  api.use("*", idempotentRequests(state));
  // Stripe refuses a parameter its API version does not know (`parameter_unknown`), before doing anything.
  api.use("*", async (c, next) => {
    const operation = operationFor(c.req.method, c.req.path);
    if (operation) checkParams(operation, await requestParams(c.req));
    await next();
  });

  /** Answers with `object`, expanded as the request's `expand` asks. */
  const send = (c: Context, params: Params, object: unknown) => c.json(expandObject(state, object, expandParam(params)) as object);
  const publish = (events: StoredEvent[]) => {
    ctx.announcer.announce(events).catch((error) => console.error("[stripe-standin] webhook delivery failed:", error));
  };

  api.post("/customers", async (c) => {
    const params = await requestParams(c.req);
    return send(c, params, createCustomerFromParams(state, params));
  });
  api.get("/customers/:id", async (c) => send(c, await requestParams(c.req), findOr404(state.customers, c.req.param("id"), "customer")));

  api.post("/prices", async (c) => {
    const params = await requestParams(c.req);
    const price = priceFromParams(state, params);
    state.prices[price.id] = price;
    return send(c, params, price);
  });
  api.get("/prices/:id", async (c) => send(c, await requestParams(c.req), findOr404(state.prices, c.req.param("id"), "price")));

  /** A session as Stripe shows it: `line_items` is there only when expanded. */
  const sendSession = (c: Context, params: Params, session: CheckoutSession) => {
    const wantsLineItems = expandParam(params).some((path) => path.split(".")[0] === "line_items");
    const lineItems = listOf(state.sessionTerms[session.id]?.lineItems ?? [], `/v1/checkout/sessions/${session.id}/line_items`);
    return send(c, params, wantsLineItems ? { ...session, line_items: lineItems } : session);
  };

  api.post("/checkout/sessions", async (c) => {
    const params = await requestParams(c.req);
    return sendSession(c, params, createCheckoutSession(state, params, ctx.baseUrl()));
  });
  api.get("/checkout/sessions/:id", async (c) => {
    const params = await requestParams(c.req);
    return sendSession(c, params, findOr404(state.checkoutSessions, c.req.param("id"), "checkout.session"));
  });
  api.get("/checkout/sessions/:id/line_items", async (c) => {
    const params = await requestParams(c.req);
    const session = findOr404(state.checkoutSessions, c.req.param("id"), "checkout.session");
    return send(c, params, paginate(state.sessionTerms[session.id]?.lineItems ?? [], params, `/v1/checkout/sessions/${session.id}/line_items`));
  });
  api.post("/checkout/sessions/:id/expire", async (c) => {
    const params = await requestParams(c.req);
    const session = findOr404(state.checkoutSessions, c.req.param("id"), "checkout.session");
    publish(expireCheckoutSession(state, session));
    return sendSession(c, params, session);
  });

  api.get("/payment_intents/:id", async (c) => send(c, await requestParams(c.req), findOr404(state.paymentIntents, c.req.param("id"), "payment_intent")));
  api.get("/charges/:id", async (c) => send(c, await requestParams(c.req), findOr404(state.charges, c.req.param("id"), "charge")));
  api.get("/disputes/:id", async (c) => send(c, await requestParams(c.req), findOr404(state.disputes, c.req.param("id"), "dispute")));
  api.get("/invoices/:id", async (c) => send(c, await requestParams(c.req), findOr404(state.invoices, c.req.param("id"), "invoice")));

  api.post("/refunds", async (c) => {
    const params = await requestParams(c.req);
    const { refund, events } = createRefund(state, params);
    publish(events);
    return send(c, params, refund);
  });
  api.get("/refunds/:id", async (c) => send(c, await requestParams(c.req), findOr404(state.refunds, c.req.param("id"), "refund")));

  api.get("/subscriptions/:id", async (c) => send(c, await requestParams(c.req), findOr404(state.subscriptions, c.req.param("id"), "subscription")));
  api.delete("/subscriptions/:id", async (c) => {
    const params = await requestParams(c.req);
    const subscription = findOr404(state.subscriptions, c.req.param("id"), "subscription");
    publish(cancelSubscription(state, subscription));
    return send(c, params, subscription);
  });

  api.post("/accounts", async (c) => {
    const params = await requestParams(c.req);
    return send(c, params, createAccount(state, params));
  });
  api.get("/accounts/:id", async (c) => send(c, await requestParams(c.req), findOr404(state.accounts, c.req.param("id"), "account")));
  api.post("/account_links", async (c) => c.json(createAccountLink(state, await requestParams(c.req), ctx.baseUrl())));

  api.post("/transfers", async (c) => {
    const params = await requestParams(c.req);
    return send(c, params, createTransfer(state, params));
  });
  api.get("/transfers", async (c) => {
    const params = await requestParams(c.req);
    const group = optionalString(params, "transfer_group");
    const destination = optionalString(params, "destination");
    const transfers = newestFirst(state.transfers).filter((transfer) => (!group || transfer.transfer_group === group) && (!destination || transfer.destination === destination));
    return send(c, params, paginate(transfers, params, "/v1/transfers"));
  });
  api.get("/transfers/:id", async (c) => send(c, await requestParams(c.req), findOr404(state.transfers, c.req.param("id"), "transfer")));

  api.get("/events", async (c) => {
    const params = await requestParams(c.req);
    const type = optionalString(params, "type");
    const events = [...state.events].reverse().filter((event) => typeMatches(event.type, type));
    return send(c, params, paginate(events.map(eventObject), params, "/v1/events"));
  });
  api.get("/events/:id", async (c) => send(c, await requestParams(c.req), eventObject(findEvent(state, c.req.param("id")))));

  return api;
}
