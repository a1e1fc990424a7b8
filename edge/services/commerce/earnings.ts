import { and, desc, eq, gte, lt, ne, type SQL, sql } from "drizzle-orm";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { contributorEarnings, images } from "../../../db/schema";
import { CURRENCY_DEFAULT } from "../../../db/schema/columns";
import * as s from "../../lib/schemas";
import { sumCents } from "./money";
import { type Month, monthStart } from "./months";

const Balances = { pendingCents: v.number(), availableCents: v.number(), paidCents: v.number() };

export const EarningsReportSchema = v.object({
  currency: v.string(),
  totals: v.object(Balances),
  periods: v.array(v.object({ period: v.string(), ...Balances })),
  images: v.array(v.object({ imageId: s.uuid, title: v.string(), sales: v.number(), ...Balances })),
});
export type EarningsReport = v.InferOutput<typeof EarningsReportSchema>;
type BalanceName = keyof typeof Balances;

const e = contributorEarnings;

/**
 * The three balances of the ledger. A pending row whose hold has ended counts as available at
 * once (the hourly job flips its status later). Reversed rows are left out by the caller's filter.
 * Sums are bigint in SQL and whole numbers here, never floats.
 */
const held = sql`${e.status} = 'pending' and (${e.availableAt} is null or ${e.availableAt} > now())`;
const releasable = sql`(${e.status} = 'available' or (${e.status} = 'pending' and ${e.availableAt} <= now()))`;
const balanceColumns = {
  pendingCents: sql<number>`coalesce(sum(${e.amountCents}) filter (where ${held}), 0)::bigint`.mapWith(Number),
  availableCents: sql<number>`coalesce(sum(${e.amountCents}) filter (where ${releasable}), 0)::bigint`.mapWith(Number),
  paidCents: sql<number>`coalesce(sum(${e.amountCents}) filter (where ${e.status} = 'paid'), 0)::bigint`.mapWith(Number),
};

/**
 * A contributor's earnings in the marketplace currency: totals, by month of the sale or reversal
 * (UTC), and by image with its standing sales. `from`/`to` (inclusive months) restrict every
 * figure. Sales reversed before payout are excluded together with their reversal rows: the two net
 * to zero; a reversal after payout is a negative row that reduces the balance it sits in.
 */
export async function earningsReport(db: Database, contributorId: string, range: { from?: Month; to?: Month }): Promise<EarningsReport> {
  const where: SQL | undefined = and(
    eq(e.contributorId, contributorId),
    eq(e.currency, CURRENCY_DEFAULT),
    ne(e.status, "reversed"),
    range.from ? gte(e.createdAt, monthStart(range.from)) : undefined,
    range.to ? lt(e.createdAt, monthStart(range.to, 1)) : undefined,
  );
  const period = sql<string>`to_char(${e.createdAt} at time zone 'UTC', 'YYYY-MM')`;
  const periods = await db
    .select({ period, ...balanceColumns })
    .from(e)
    .where(where)
    .groupBy(period)
    .orderBy(period);
  const byImage = await db
    .select({
      imageId: e.imageId,
      title: images.title,
      ...balanceColumns,
      sales: sql<number>`count(*) filter (where ${e.kind} = 'sale')`.mapWith(Number),
    })
    .from(e)
    .innerJoin(images, eq(images.id, e.imageId))
    .where(where)
    .groupBy(e.imageId, images.title)
    .orderBy(desc(sql`sum(${e.amountCents})`), e.imageId);
  const total = (key: BalanceName) => sumCents(periods.map((row) => row[key]));
  return {
    currency: CURRENCY_DEFAULT,
    totals: { pendingCents: total("pendingCents"), availableCents: total("availableCents"), paidCents: total("paidCents") },
    periods,
    images: byImage,
  };
}
