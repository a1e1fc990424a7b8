import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { render } from "../layout";
import { page } from "../page";

/** The storefront: home, search, image pages, contributor profiles. */
export const storefrontPages = new Hono<AppEnv>().get("/", page({ access: "public" }), (c) =>
  render(
    c,
    { title: "Edgestock", description: "Licensable stock photographs, searchable by words and by meaning." },
    <section>
      <h1>Stock photographs, licensed in a minute</h1>
    </section>,
  ),
);
