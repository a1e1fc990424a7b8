import { and, eq, inArray } from "drizzle-orm";
import { Hono } from "hono";
import * as v from "valibot";
import { images, licenses, orderItems, orders, orderStatus } from "../../db/schema";
import type { AppEnv } from "../env";
import { afterCursor, decodeCursor, newestFirst, page } from "../lib/pagination";
import { ApiError } from "../lib/problem";
import { caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";

const OrderSchema = v.object({
  id: s.uuid,
  status: v.picklist(orderStatus.enumValues),
  totalCents: v.number(),
  currency: v.string(),
  createdAt: v.string(),
  paidAt: v.nullable(v.string()),
  automaticRefund: v.pipe(
    v.nullable(v.object({ amountCents: v.number(), refundId: v.nullable(v.string()) })),
    v.description("What the payment covered but could not license when it arrived (see items[].refused), returned through Stripe; refundId is null until the refund is made"),
  ),
  items: v.array(
    v.object({
      imageId: s.uuid,
      title: v.string(),
      licenseType: v.string(),
      priceCents: v.number(),
      licenseId: v.nullable(v.string()),
      licenseRevoked: v.boolean(),
      refused: v.pipe(
        v.nullable(v.picklist(["already-licensed", "taken-down", "withdrawn", "not-listed"])),
        v.description("Why this paid item issued no license and was refunded; null when it was licensed (or the order is not paid)"),
      ),
    }),
  ),
});

type OrderRow = typeof orders.$inferSelect;
type RefusedReason = "already-licensed" | "taken-down" | "withdrawn" | "not-listed";

async function withItems(db: AppEnv["Variables"]["db"], rows: OrderRow[]) {
  if (rows.length === 0) return [];
  const items = await db
    .select({
      orderId: orderItems.orderId,
      imageId: orderItems.imageId,
      title: images.title,
      licenseType: orderItems.licenseType,
      priceCents: orderItems.priceCents,
      licenseId: licenses.id,
      revokedAt: licenses.revokedAt,
      refusedReason: orderItems.refusedReason,
    })
    .from(orderItems)
    .innerJoin(images, eq(images.id, orderItems.imageId))
    .leftJoin(licenses, eq(licenses.orderItemId, orderItems.id))
    .where(inArray(orderItems.orderId, rows.map((row) => row.id)));
  return rows.map((order) => ({
    id: order.id,
    status: order.status,
    totalCents: order.totalCents,
    currency: order.currency,
    createdAt: order.createdAt.toISOString(),
    paidAt: order.paidAt?.toISOString() ?? null,
    automaticRefund: order.refundDueCents > 0 ? { amountCents: order.refundDueCents, refundId: order.autoRefundId } : null,
    items: items
      .filter((item) => item.orderId === order.id)
      .map((item) => ({ imageId: item.imageId, title: item.title, licenseType: item.licenseType, priceCents: item.priceCents, licenseId: item.licenseId, licenseRevoked: item.revokedAt !== null, refused: item.refusedReason as RefusedReason | null })),
  }));
}

/** A buyer's orders, newest first, with their items and the licenses they produced. */
export const orderRoutes = new Hono<AppEnv>()
  .get(
    "/",
    spec({
      summary: "Your orders",
      tags: ["commerce"],
      access: ["buyer"],
      responses: { 200: { description: "A page of orders", schema: v.object({ items: v.array(OrderSchema), nextCursor: v.nullable(v.string()) }) } },
    }),
    input("query", v.strictObject(s.pageQuery)),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      const rows = await c.var.db
        .select()
        .from(orders)
        .where(and(eq(orders.buyerId, caller(c).userId), afterCursor(orders.createdAt, orders.id, cursor ? decodeCursor(cursor) : undefined)))
        .orderBy(...newestFirst(orders.createdAt, orders.id))
        .limit(limit + 1);
      const { items, nextCursor } = page(rows, limit);
      return c.json({ items: await withItems(c.var.db, items), nextCursor });
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
    async (c) => {
      const [order] = await c.var.db
        .select()
        .from(orders)
        .where(and(eq(orders.id, c.req.valid("param").id), eq(orders.buyerId, caller(c).userId)));
      if (!order) throw new ApiError("not-found", "no such order");
      const [full] = await withItems(c.var.db, [order]);
      return c.json(full);
    },
  );
