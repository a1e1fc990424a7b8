import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { render } from "../layout";
import { page } from "../page";

/** The admin console: review queue, takedowns, audit log, prices, payout runs. */
export const consolePages = new Hono<AppEnv>().get("/", page({ access: ["admin"] }), (c) =>
  render(
    c,
    { title: "Console", noindex: true },
    <section>
      <h1>Console</h1>
    </section>,
  ),
);
