import { and, eq, inArray } from "drizzle-orm";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { images, licenses, type Order, orderItems, orderStatus, orders } from "../../../db/schema";
import { afterCursor, type CursorPosition, newestFirst, page } from "../../lib/pagination";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { ITEM_REFUSALS, type ItemRefusal } from "./settlement";

export const OrderSchema = v.object({
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
        v.nullable(v.picklist(ITEM_REFUSALS)),
        v.description("Why this paid item issued no license and was refunded; null when it was licensed (or the order is not paid)"),
      ),
    }),
  ),
});
export type OrderView = v.InferOutput<typeof OrderSchema>;

export const OrderPageSchema = s.pageOf(OrderSchema);
export type OrderPage = v.InferOutput<typeof OrderPageSchema>;

/** The orders with their items and the licenses those produced, in one query for the items. */
async function withItems(db: Database, rows: Order[]): Promise<OrderView[]> {
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
    .where(
      inArray(
        orderItems.orderId,
        rows.map((row) => row.id),
      ),
    );
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
      .map((item) => ({
        imageId: item.imageId,
        title: item.title,
        licenseType: item.licenseType,
        priceCents: item.priceCents,
        licenseId: item.licenseId,
        licenseRevoked: item.revokedAt !== null,
        // The column is written only by settleOrder, from ITEM_REFUSALS.
        refused: item.refusedReason as ItemRefusal | null,
      })),
  }));
}

/** A buyer's orders, newest first, a page at a time, with their items and the licenses they produced. */
export async function listOrders(db: Database, buyerId: string, limit: number, after: CursorPosition | undefined): Promise<OrderPage> {
  const rows = await db
    .select()
    .from(orders)
    .where(and(eq(orders.buyerId, buyerId), afterCursor(orders.createdAt, orders.id, after)))
    .orderBy(...newestFirst(orders.createdAt, orders.id))
    .limit(limit + 1);
  const { items, nextCursor } = page(rows, limit);
  return { items: await withItems(db, items), nextCursor };
}

/** One of the buyer's orders; anyone else's is a 404. */
export async function getOrder(db: Database, buyerId: string, id: string): Promise<OrderView> {
  const [order] = await db
    .select()
    .from(orders)
    .where(and(eq(orders.id, id), eq(orders.buyerId, buyerId)));
  const [full] = order ? await withItems(db, [order]) : [];
  if (!full) throw new ApiError("not-found", "no such order");
  return full;
}

/**
 * The buyer's order paid through a Checkout Session (the `session_id` Stripe sends the buyer back
 * with to the confirmation page); another buyer's session, or an unknown one, is a 404.
 */
export async function getOrderBySession(db: Database, buyerId: string, sessionId: string): Promise<OrderView> {
  const [order] = await db
    .select()
    .from(orders)
    .where(and(eq(orders.stripeCheckoutSessionId, sessionId), eq(orders.buyerId, buyerId)));
  const [full] = order ? await withItems(db, [order]) : [];
  if (!full) throw new ApiError("not-found", "no such order");
  return full;
}
