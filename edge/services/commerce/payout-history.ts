import { and, eq } from "drizzle-orm";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { PAYOUT_STATUSES, payouts } from "../../../db/schema";
import { afterCursor, type CursorPosition, newestFirst, page } from "../../lib/pagination";
import * as s from "../../lib/schemas";

export const PayoutSchema = v.object({
  id: s.uuid,
  period: v.string(),
  amountCents: v.number(),
  currency: v.string(),
  status: v.picklist(PAYOUT_STATUSES),
  stripeTransferId: v.nullable(v.string()),
  failureReason: v.nullable(v.string()),
  createdAt: v.string(),
});
export type PayoutView = v.InferOutput<typeof PayoutSchema>;

export const PayoutPageSchema = s.pageOf(PayoutSchema);
export type PayoutPage = v.InferOutput<typeof PayoutPageSchema>;

/** A contributor's payouts, newest first, a page at a time. */
export async function listContributorPayouts(db: Database, contributorId: string, limit: number, after: CursorPosition | undefined): Promise<PayoutPage> {
  const rows = await db
    .select({
      id: payouts.id,
      period: payouts.period,
      amountCents: payouts.amountCents,
      currency: payouts.currency,
      status: payouts.status,
      stripeTransferId: payouts.stripeTransferId,
      failureReason: payouts.failureReason,
      createdAt: payouts.createdAt,
    })
    .from(payouts)
    .where(and(eq(payouts.contributorId, contributorId), afterCursor(payouts.createdAt, payouts.id, after)))
    .orderBy(...newestFirst(payouts.createdAt, payouts.id))
    .limit(limit + 1);
  const { items, nextCursor } = page(rows, limit);
  return { items: items.map((row): PayoutView => ({ ...row, createdAt: row.createdAt.toISOString() })), nextCursor };
}
