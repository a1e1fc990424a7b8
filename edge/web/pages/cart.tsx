import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { ALL_ROLES } from "../../lib/route";
import { render } from "../layout";
import { page } from "../page";

/** The cart, checkout through Stripe Checkout, and the confirmation after paying. */
export const cartPages = new Hono<AppEnv>().get("/cart", page({ access: ALL_ROLES }), (c) =>
  render(
    c,
    { title: "Cart", noindex: true },
    <section>
      <h1>Cart</h1>
    </section>,
  ),
);
