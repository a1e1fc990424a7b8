import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { render } from "../layout";
import { page } from "../page";

/** The contributor's studio: uploads, their status, the portfolio, earnings and payouts. */
export const studioPages = new Hono<AppEnv>().get("/", page({ access: ["contributor"] }), (c) =>
  render(
    c,
    { title: "Studio", noindex: true },
    <section>
      <h1>Studio</h1>
    </section>,
  ),
);
