import { type Context, Hono } from "hono";
import { renewSubscription } from "./billing";
import { type CheckoutOutcome, completeCheckout, settleAsyncPayment, successRedirect } from "./checkout";
import { completeOnboarding } from "./connect";
import { checkoutPage, onboardingPage } from "./pages";
import { optionalBoolean, optionalEnum, optionalString } from "./params";
import { disputeCharge } from "./payments";
import { prefersHtml, requestParams, type StandinContext } from "./request";
import { findEvent, findOr404, type StoredEvent } from "./state";

const OUTCOMES: readonly CheckoutOutcome[] = ["paid", "async"];
const DISPUTE_REASONS = ["fraudulent", "duplicate", "product_not_received", "product_unacceptable", "subscription_canceled", "unrecognized", "general"] as const;

/**
 * The dev controls: how a developer (with a browser) or a test (with fetch) plays the customer,
 * the bank and the account holder. Not Stripe's API. Each control answers with the events it
 * caused, signed and (when a webhook URL is set) delivered, or, for a browser form post, with a
 * 303 to the page the customer returns to.
 */
export function devControlRoutes(ctx: StandinContext): Hono {
  const { state } = ctx;
  const controls = new Hono();

  /** Saves, announces the events in order, and answers as the client prefers. */
  const reply = async (c: Context, events: StoredEvent[], returnUrl?: string) => {
    ctx.persist();
    const announced = await ctx.announcer.announce(events);
    if (returnUrl && prefersHtml(c.req.header("accept"))) return c.redirect(returnUrl, 303);
    return c.json({ events: announced });
  };

  controls.get("/checkout/:id", (c) => {
    const session = findOr404(state.checkoutSessions, c.req.param("id"), "checkout.session");
    return c.html(checkoutPage(session, state.sessionTerms[session.id]?.lineItems ?? []));
  });
  controls.post("/checkout/:id/complete", async (c) => {
    const session = findOr404(state.checkoutSessions, c.req.param("id"), "checkout.session");
    const outcome = optionalEnum(await requestParams(c.req), "outcome", OUTCOMES) ?? "paid";
    return reply(c, completeCheckout(state, session, outcome), successRedirect(session));
  });
  controls.post("/_dev/checkout/:id/async", async (c) => {
    const session = findOr404(state.checkoutSessions, c.req.param("id"), "checkout.session");
    const succeed = optionalBoolean(await requestParams(c.req), "succeed") ?? true;
    return reply(c, settleAsyncPayment(state, session, succeed), successRedirect(session));
  });

  controls.post("/_dev/subscriptions/:id/renew", (c) => {
    const subscription = findOr404(state.subscriptions, c.req.param("id"), "subscription");
    return reply(c, renewSubscription(state, subscription));
  });
  controls.post("/_dev/charges/:id/dispute", async (c) => {
    const charge = findOr404(state.charges, c.req.param("id"), "charge");
    const reason = optionalEnum(await requestParams(c.req), "reason", DISPUTE_REASONS) ?? "fraudulent";
    return reply(c, disputeCharge(state, charge, reason));
  });

  controls.get("/connect/onboard/:account", async (c) => {
    const account = findOr404(state.accounts, c.req.param("account"), "account");
    const returnUrl = optionalString(await requestParams(c.req), "return_url") ?? state.onboardingReturns[account.id]?.returnUrl ?? null;
    return c.html(onboardingPage(account, returnUrl));
  });
  controls.post("/connect/onboard/:account/complete", async (c) => {
    const account = findOr404(state.accounts, c.req.param("account"), "account");
    const returnUrl = optionalString(await requestParams(c.req), "return_url") ?? state.onboardingReturns[account.id]?.returnUrl;
    return reply(c, completeOnboarding(state, account), returnUrl);
  });

  controls.post("/_dev/events/:id/resend", (c) => reply(c, [findEvent(state, c.req.param("id"))]));

  return controls;
}
