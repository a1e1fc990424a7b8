import { and, eq } from "drizzle-orm";
import type { Database } from "../../../db/connect";
import { type PayoutStatus, payouts } from "../../../db/schema";
import { afterCursor, type CursorPosition, newestFirst, page } from "../../lib/pagination";

export type PayoutView = {
  id: string;
  period: string;
  amountCents: number;
  currency: string;
  status: PayoutStatus;
  stripeTransferId: string | null;
  failureReason: string | null;
  createdAt: string;
};

/** A contributor's payouts, newest first, a page at a time. */
export async function listContributorPayouts(db: Database, contributorId: string, limit: number, after: CursorPosition | undefined) {
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
