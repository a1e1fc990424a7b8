import { Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../env";
import { decodeCursor } from "../lib/pagination";
import { caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { getOrder, listOrders, OrderPageSchema, OrderSchema } from "../services/commerce/orders";

/** A buyer's orders, newest first, with their items and the licenses they produced. */
export const orderRoutes = new Hono<AppEnv>()
  .get(
    "/",
    spec({
      summary: "Your orders",
      tags: ["commerce"],
      access: ["buyer"],
      responses: { 200: { description: "A page of orders", schema: OrderPageSchema } },
    }),
    input("query", v.strictObject(s.pageQuery)),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      return c.json(await listOrders(c.var.db, caller(c).userId, limit, cursor ? decodeCursor(cursor) : undefined));
    },
  )
  .get(
    "/:id",
    spec({
      summary: "One of your orders",
      tags: ["commerce"],
      access: ["buyer"],
      responses: { 200: { description: "The order", schema: OrderSchema } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    async (c) => c.json(await getOrder(c.var.db, caller(c).userId, c.req.valid("param").id)),
  );
