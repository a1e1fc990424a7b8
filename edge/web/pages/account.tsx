import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { ALL_ROLES } from "../../lib/route";
import { render } from "../layout";
import { page } from "../page";

/** The buyer's side: cart, checkout and its confirmation, licences, orders, subscription, API keys. */
export const accountPages = new Hono<AppEnv>().get("/account", page({ access: ALL_ROLES }), (c) =>
  render(
    c,
    { title: "Your account", noindex: true },
    <section>
      <h1>Your account</h1>
    </section>,
  ),
);
