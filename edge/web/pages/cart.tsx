import { type Context, Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../../env";
import { ApiError } from "../../lib/problem";
import { ALL_ROLES } from "../../lib/route";
import { csrfToken } from "../../lib/session-cookies";
import { addToCart, CartLineSchema, type CartView, loadCart, removeFromCart } from "../../services/commerce/cart";
import { checkoutCart } from "../../services/commerce/checkout";
import { getOrderBySession } from "../../services/commerce/orders";
import { subscriptionStatus } from "../../services/commerce/plans";
import type { Unavailable } from "../../services/commerce/quotes";
import { money, Notice } from "../components";
import { CsrfField, render } from "../layout";
import { formFields, page, visitor } from "../page";
import { OrderDetail, parseForm } from "./account-parts";

/**
 * The cart, checkout through Stripe Checkout (locally the stand-in's page) and the pages Stripe
 * sends the buyer back to. Everything goes through the services the /v1 cart and checkout routes
 * use (edge/services/commerce/cart.ts, checkout.ts): prices, what may be bought and the order are
 * theirs. Buying is for buyer accounts, as in the API; other roles see the cart page say so.
 */

const BUYERS = ["buyer"] as const;
const STYLES = ["account.css"];

const UNAVAILABLE: Record<Unavailable, string> = {
  "not-found": "no longer for sale",
  "not-for-sale": "no longer for sale",
  "editorial-only": "sold under the editorial licence only",
  "no-price": "no price for this licence any more",
};

const checkoutDeps = (c: Context<AppEnv>) => ({ db: c.var.db, config: c.var.config, urls: c.var.urls, log: c.var.log });

/** An item checkout refused, as the checkout service lists them (reason: an unavailable reason or already-licensed). */
type Refused = { imageId: string; licenseType: string; reason: string };

const refusedReason = (reason: string) => (reason === "already-licensed" ? "you already hold this licence" : (UNAVAILABLE[reason as Unavailable] ?? reason));

function CartLines({ cart, csrf, refused }: { cart: CartView; csrf: string; refused: Refused[] }) {
  return (
    <ul class="lines cart">
      {cart.items.map((item) => (
        <li>
          {item.thumbnailUrl ? <img src={item.thumbnailUrl} alt={item.title} width={96} height={96} loading="lazy" decoding="async" /> : <span class="thumb" aria-hidden="true" />}
          <span class="grow">
            <a href={`/images/${item.imageId}`}>{item.title}</a>
            <br />
            <span class="muted">{item.licenseType} licence</span>
          </span>
          <span class="price">
            {item.unavailable ? (
              <span class="badge failed">Unavailable: {UNAVAILABLE[item.unavailable]}</span>
            ) : (
              item.amountCents !== null && money(item.amountCents, item.currency)
            )}
            {refused
              .filter((r) => r.imageId === item.imageId && r.licenseType === item.licenseType && !item.unavailable)
              .map((r) => (
                <>
                  <br />
                  <span class="badge failed">Cannot check out: {refusedReason(r.reason)}</span>
                </>
              ))}
          </span>
          <form method="post" action="/cart/remove" class="inline">
            <CsrfField token={csrf} />
            <input type="hidden" name="imageId" value={item.imageId} />
            <input type="hidden" name="licenseType" value={item.licenseType} />
            <button type="submit" class="secondary">
              Remove
              <span class="sr">
                {" "}
                {item.title} ({item.licenseType} licence)
              </span>
            </button>
          </form>
        </li>
      ))}
    </ul>
  );
}

async function cartPage(c: Context<AppEnv>, error?: string, status: 200 | 409 | 422 = 200, refused: Refused[] = []) {
  const principal = visitor(c);
  const csrf = await csrfToken(c);
  if (principal.role !== "buyer") {
    return render(
      c,
      { title: "Cart", noindex: true, styles: STYLES },
      <section class="narrow">
        <h1>Cart</h1>
        <p>Licences are bought with a buyer account. Sign in with one (or create one) to fill a cart.</p>
      </section>,
    );
  }
  const cart = await loadCart({ db: c.var.db, urls: c.var.urls }, principal.userId);
  const unavailable = cart.items.some((item) => item.unavailable);
  return render(
    c,
    { title: "Cart", noindex: true, styles: STYLES, status },
    <section class="buyer">
      <h1>Cart</h1>
      {error && <Notice>{error}</Notice>}
      {cart.count === 0 ? (
        <p class="empty">
          Your cart is empty. <a href="/search">Find images</a> and add them under the licence you need.
        </p>
      ) : (
        <>
          <CartLines cart={cart} csrf={csrf} refused={refused} />
          <p class="total">
            Total <strong>{money(cart.totalCents, cart.currency)}</strong>
          </p>
          {unavailable && <Notice>Some items can no longer be bought: remove them to check out.</Notice>}
          <form method="post" action="/checkout" class="checkout">
            <CsrfField token={csrf} />
            <button type="submit" disabled={unavailable}>
              Check out
            </button>
            <span class="muted">You pay on Stripe's secure page; licences are issued once the payment is confirmed.</span>
          </form>
        </>
      )}
    </section>,
  );
}

/** The cart line a form posts: only the two fields the API's schema knows, checked by it. */
const cartLine = (fields: Record<string, string>) => parseForm(CartLineSchema, { imageId: fields.imageId, licenseType: fields.licenseType }, "This item cannot be added");

const SessionQuery = v.object({ session_id: v.pipe(v.string("session_id is missing"), v.regex(/^[A-Za-z0-9_-]{1,255}$/, "session_id is not a checkout session")) });

export const cartPages = new Hono<AppEnv>()
  .get("/cart", page({ access: ALL_ROLES }), (c) => cartPage(c))
  .post("/cart/items", page({ access: BUYERS }), async (c) => {
    const line = cartLine(await formFields(c));
    await addToCart(c.var.db, visitor(c).userId, line);
    return c.redirect("/cart", 303);
  })
  .post("/cart/remove", page({ access: BUYERS }), async (c) => {
    const line = parseForm(CartLineSchema, await formFields(c).then((f) => ({ imageId: f.imageId, licenseType: f.licenseType })), "This item cannot be removed");
    await removeFromCart(c.var.db, visitor(c).userId, line);
    return c.redirect("/cart", 303);
  })
  .post("/checkout", page({ access: BUYERS }), async (c) => {
    try {
      const started = await checkoutCart(checkoutDeps(c), visitor(c).userId);
      return c.redirect(started.checkoutUrl, 303);
    } catch (error) {
      // What the buyer can fix from the cart (an empty cart, items no longer for sale or already
      // held, a payment being settled) is said on the cart page itself.
      if (error instanceof ApiError && (error.type === "conflict" || error.type === "validation-failed")) {
        const refused = Array.isArray(error.extra.items) ? (error.extra.items as Refused[]) : [];
        return cartPage(c, `Checkout did not start: ${error.detail ?? error.message}.`, error.status as 409 | 422, refused);
      }
      throw error;
    }
  })
  .get("/checkout/order/success", page({ access: BUYERS }), async (c) => {
    const { session_id } = parseForm(SessionQuery, { session_id: c.req.query("session_id") }, "This confirmation link is not valid");
    const order = await getOrderBySession(c.var.db, visitor(c).userId, session_id);
    const waiting = order.status === "pending";
    return render(
      c,
      {
        title: waiting ? "Confirming payment" : "Order confirmation",
        noindex: true,
        styles: STYLES,
        // Until Stripe's webhook has settled the order, the page reloads itself every few seconds.
        head: waiting ? <meta http-equiv="refresh" content="3" /> : undefined,
      },
      <section class="buyer">
        {waiting ? (
          <>
            <h1>Confirming payment…</h1>
            <p role="status">Stripe is confirming your payment. This page refreshes by itself; your licences appear as soon as it is done.</p>
          </>
        ) : order.status === "paid" || order.status === "partially_refunded" ? (
          <>
            <h1>Thank you, your order is paid</h1>
            <Notice kind="ok">
              Your licences are ready. <a href="/account/licenses">Download your images</a>.
            </Notice>
          </>
        ) : (
          <>
            <h1>Order not completed</h1>
            <Notice>This order was not paid. Nothing was charged for it.</Notice>
          </>
        )}
        <OrderDetail order={order} />
        <p>
          <a href="/account/licenses">Your licences</a> · <a href="/account/orders">Your orders</a>
        </p>
      </section>,
    );
  })
  .get("/checkout/order/canceled", page({ access: BUYERS }), (c) =>
    render(
      c,
      { title: "Checkout canceled", noindex: true, styles: STYLES },
      <section class="narrow">
        <h1>Checkout canceled</h1>
        <p>Nothing was charged. Your cart is as you left it.</p>
        <p>
          <a class="button" href="/cart">
            Back to the cart
          </a>
        </p>
      </section>,
    ),
  )
  .get("/checkout/subscription/success", page({ access: BUYERS }), async (c) => {
    parseForm(SessionQuery, { session_id: c.req.query("session_id") }, "This confirmation link is not valid");
    const { subscription } = await subscriptionStatus(c.var.db, visitor(c).userId);
    return render(
      c,
      {
        title: subscription ? "Subscription confirmed" : "Confirming subscription",
        noindex: true,
        styles: STYLES,
        head: subscription ? undefined : <meta http-equiv="refresh" content="3" />,
      },
      <section class="narrow">
        {subscription ? (
          <>
            <h1>Welcome to {subscription.plan.name}</h1>
            <Notice kind="ok">You have {subscription.creditsLeft} download credits this period. Each downloads one image under the standard or editorial licence.</Notice>
          </>
        ) : (
          <>
            <h1>Confirming subscription…</h1>
            <p role="status">Stripe is confirming your subscription. This page refreshes by itself.</p>
          </>
        )}
        <p>
          <a href="/account/subscription">Your subscription</a> · <a href="/search">Find images</a>
        </p>
      </section>,
    );
  })
  .get("/checkout/subscription/canceled", page({ access: BUYERS }), (c) =>
    render(
      c,
      { title: "Subscription canceled", noindex: true, styles: STYLES },
      <section class="narrow">
        <h1>Subscription not started</h1>
        <p>Nothing was charged.</p>
        <p>
          <a href="/account/subscription">Back to the plans</a>
        </p>
      </section>,
    ),
  );
