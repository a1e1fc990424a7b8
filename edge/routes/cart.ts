import { Hono } from "hono";
import type { AppEnv } from "../env";
import { caller, input, spec } from "../lib/route";
import { addToCartAndLoad, CartLineSchema, CartSchema, emptyCart, loadCart, MAX_CART_ITEMS, removeFromCart } from "../services/commerce/cart";

const access = ["buyer"] as const;

/** The buyer's cart: images under a license type, priced when read, bought at checkout. */
export const cartRoutes = new Hono<AppEnv>()
  .get(
    "/",
    spec({
      summary: "Your cart, priced now",
      description: "Items that can no longer be bought stay listed with `unavailable` set and no price; `totalCents` counts only the others.",
      tags: ["cart"],
      access,
      responses: { 200: { description: "The cart", schema: CartSchema } },
    }),
    async (c) => c.json(await loadCart({ db: c.var.db, urls: c.var.urls }, caller(c).userId)),
  )
  .post(
    "/",
    spec({
      summary: "Add an image under a license type to your cart",
      description: `Idempotent: adding an item that is already in the cart answers 200. 404 for an image that is not for sale; 422 for an editorial image under another license, a license type without a price, or a cart of ${MAX_CART_ITEMS} items; 409 when you already hold that license.`,
      tags: ["cart"],
      access,
      responses: {
        201: { description: "Added; the cart", schema: CartSchema },
        200: { description: "Already in the cart; the cart", schema: CartSchema },
      },
    }),
    input("json", CartLineSchema),
    async (c) => {
      const { added, cart } = await addToCartAndLoad({ db: c.var.db, urls: c.var.urls }, caller(c).userId, c.req.valid("json"));
      return c.json(cart, added ? 201 : 200);
    },
  )
  .delete(
    "/items/:imageId/:licenseType",
    spec({
      summary: "Remove an item from your cart",
      tags: ["cart"],
      access,
      responses: { 204: { description: "Removed" } },
    }),
    input("param", CartLineSchema),
    async (c) => {
      await removeFromCart(c.var.db, caller(c).userId, c.req.valid("param"));
      return c.body(null, 204);
    },
  )
  .delete(
    "/",
    spec({
      summary: "Empty your cart",
      tags: ["cart"],
      access,
      responses: { 204: { description: "Emptied" } },
    }),
    async (c) => {
      await emptyCart(c.var.db, caller(c).userId);
      return c.body(null, 204);
    },
  );
