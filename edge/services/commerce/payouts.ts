import { and, desc, eq, inArray, isNotNull, isNull, lte, sql } from "drizzle-orm";
import * as v from "valibot";
import { type Logger, log as rootLog } from "../../../common/log";
import type { Database } from "../../../db/connect";
import { contributorEarnings, type Payout, payouts, users } from "../../../db/schema";
import { CURRENCY_DEFAULT } from "../../../db/schema/columns";
import { type Stripe, stripeClient } from "../../adapters/stripe";
import type { Config } from "../../config";
import { audit } from "../admin/audit";
import { sumCents } from "./money";
import { type Month, monthStart, previousMonth } from "./months";

/**
 * The monthly contributor payout run, exactly once per contributor and period however often it
 * runs and wherever it stops:
 *
 * 1. Earnings whose hold has passed become available.
 * 2. Per ready contributor (Connect account with payouts enabled) whose available balance reaches
 *    the minimum, one transaction creates the payout row, unique per (contributor, period), and
 *    attaches exactly the earnings rows it pays; the amount is their sum.
 * 3. Each payout of the period without a transfer gets one: first Stripe is asked for a transfer
 *    already made for it (transfer_group = payout id: a crash after Stripe answered and before we
 *    recorded it), else one is created with the payout id as idempotency key. The transfer id is
 *    then recorded and the earnings marked paid.
 * 4. Reconciliation: each payout's amount equals the sum of its earnings rows and its transfer.
 */

/** The monthly payout Cron Trigger in wrangler.toml; every other schedule is the hourly maintenance. */
export const PAYOUT_CRON = "0 6 1 * *";

export type PayoutRunOptions = {
  /** `YYYY-MM`; default: the month before `now`. */
  period?: Month;
  now?: Date;
};

export const PayoutRunReportSchema = v.object({
  period: v.string(),
  matured: v.number(),
  created: v.number(),
  transferred: v.number(),
  adopted: v.number(),
  failed: v.array(v.object({ payoutId: v.string(), reason: v.string() })),
  payouts: v.array(v.object({ payoutId: v.string(), contributorId: v.string(), amountCents: v.number(), status: v.string(), stripeTransferId: v.nullable(v.string()) })),
  mismatches: v.array(v.object({ payoutId: v.string(), payoutCents: v.number(), earningsCents: v.number(), transferCents: v.nullable(v.number()) })),
});
export type PayoutRunReport = v.InferOutput<typeof PayoutRunReportSchema>;

export const PeriodPayoutsSchema = v.object({
  items: v.array(
    v.object({
      id: v.string(),
      contributorId: v.string(),
      period: v.string(),
      amountCents: v.number(),
      currency: v.string(),
      status: v.string(),
      stripeTransferId: v.nullable(v.string()),
      failureReason: v.nullable(v.string()),
    }),
  ),
});
export type PeriodPayouts = v.InferOutput<typeof PeriodPayoutsSchema>;

/** Pending earnings whose hold (refund window) has passed become available. */
export async function matureEarnings(db: Database, now = new Date()): Promise<number> {
  const rows = await db
    .update(contributorEarnings)
    .set({ status: "available" })
    .where(and(eq(contributorEarnings.status, "pending"), lte(contributorEarnings.availableAt, now)))
    .returning({ id: contributorEarnings.id });
  return rows.length;
}

/** Step 2 for one contributor: the payout row and its earnings, atomically. Null when below the minimum or already made. */
async function createPayout(db: Database, config: Config, contributorId: string, period: string): Promise<string | null> {
  return db.transaction(async (tx) => {
    const eligible = and(
      eq(contributorEarnings.contributorId, contributorId),
      eq(contributorEarnings.status, "available"),
      isNull(contributorEarnings.payoutId),
      eq(contributorEarnings.currency, CURRENCY_DEFAULT),
      // Earnings available by the end of the period are paid in it.
      lte(contributorEarnings.availableAt, monthStart(period, 1)),
    );
    const rows = await tx.select({ id: contributorEarnings.id, amountCents: contributorEarnings.amountCents }).from(contributorEarnings).where(eligible).for("update");
    const amountCents = sumCents(rows.map((row) => row.amountCents));
    if (amountCents < config.PAYOUT_MINIMUM_CENTS) return null;
    const [payout] = await tx
      .insert(payouts)
      .values({ contributorId, period, amountCents, currency: CURRENCY_DEFAULT, status: "pending" })
      .onConflictDoNothing()
      .returning({ id: payouts.id });
    if (!payout) return null;
    await tx
      .update(contributorEarnings)
      .set({ payoutId: payout.id })
      .where(
        inArray(
          contributorEarnings.id,
          rows.map((row) => row.id),
        ),
      );
    return payout.id;
  });
}

/** Step 3 for one payout. */
async function transferPayout(db: Database, config: Config, payout: Payout, destination: string): Promise<"transferred" | "adopted"> {
  const stripe = stripeClient(config);
  const existing = await stripe.transfers.list({ transfer_group: payout.id, limit: 10 });
  let transfer: Stripe.Transfer | undefined = existing.data.find((t) => t.metadata?.payout_id === payout.id);
  const adopted = transfer !== undefined;
  if (!transfer) {
    transfer = await stripe.transfers.create(
      {
        amount: payout.amountCents,
        currency: payout.currency,
        destination,
        transfer_group: payout.id,
        description: `Edgestock earnings ${payout.period}`,
        metadata: { payout_id: payout.id, contributor_id: payout.contributorId, period: payout.period },
      },
      { idempotencyKey: `payout-${payout.id}` },
    );
  }
  const transferId = transfer.id;
  await db.transaction(async (tx) => {
    await tx
      .update(payouts)
      .set({ stripeTransferId: transferId, status: "paid", failureReason: null, updatedAt: new Date() })
      .where(and(eq(payouts.id, payout.id), isNull(payouts.stripeTransferId)));
    await tx.update(contributorEarnings).set({ status: "paid" }).where(eq(contributorEarnings.payoutId, payout.id));
  });
  return adopted ? "adopted" : "transferred";
}

export async function runPayouts(deps: { db: Database; config: Config; log?: Logger }, options: PayoutRunOptions = {}): Promise<PayoutRunReport> {
  const { db, config } = deps;
  const log = deps.log ?? rootLog;
  const now = options.now ?? new Date();
  const period = options.period ?? previousMonth(now);
  const report: PayoutRunReport = { period, matured: await matureEarnings(db, now), created: 0, transferred: 0, adopted: 0, failed: [], payouts: [], mismatches: [] };

  const ready = await db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.payoutsEnabled, true), isNotNull(users.stripeConnectAccountId)));
  for (const contributor of ready) {
    if (await createPayout(db, config, contributor.id, period)) report.created += 1;
  }

  const open = await db
    .select({ payout: payouts, destination: users.stripeConnectAccountId })
    .from(payouts)
    .innerJoin(users, eq(users.id, payouts.contributorId))
    .where(and(eq(payouts.period, period), isNull(payouts.stripeTransferId)));
  for (const { payout, destination } of open) {
    try {
      if (!destination) throw new Error("the contributor has no Connect account");
      const outcome = await transferPayout(db, config, payout, destination);
      report[outcome] += 1;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      report.failed.push({ payoutId: payout.id, reason });
      // The earnings stay attached: the next run retries this payout (same idempotency key).
      await db
        .update(payouts)
        .set({ status: "failed", failureReason: reason.slice(0, 500), updatedAt: new Date() })
        .where(and(eq(payouts.id, payout.id), isNull(payouts.stripeTransferId)));
    }
  }

  await reconcile(deps, period, report);
  const summary = { ...report, payouts: report.payouts.length };
  if (report.mismatches.length > 0) log.error("payout run", summary);
  else log.info("payout run", summary);
  return report;
}

/** An admin's payout run (see {@link runPayouts}), written to the audit log with its figures. */
export async function runPayoutsAsAdmin(
  deps: { db: Database; config: Config; log?: Logger },
  options: PayoutRunOptions,
  by: { actorId: string; requestId?: string },
): Promise<PayoutRunReport> {
  const report = await runPayouts(deps, options);
  await audit(deps.db, {
    actorId: by.actorId,
    action: "payout.run",
    targetType: "payout_period",
    targetId: report.period,
    detail: { created: report.created, transferred: report.transferred, adopted: report.adopted, failed: report.failed.length, mismatches: report.mismatches.length },
    requestId: by.requestId,
  });
  return report;
}

/** The payouts of a period, largest first (at most 1000). */
export async function listPeriodPayouts(db: Database, period: Month): Promise<PeriodPayouts> {
  const rows = await db.select().from(payouts).where(eq(payouts.period, period)).orderBy(desc(payouts.amountCents)).limit(1000);
  return {
    items: rows.map((p) => ({
      id: p.id,
      contributorId: p.contributorId,
      period: p.period,
      amountCents: p.amountCents,
      currency: p.currency,
      status: p.status,
      stripeTransferId: p.stripeTransferId,
      failureReason: p.failureReason,
    })),
  };
}

/** A payout period as the admin console's history lists it: how many payouts, how much, and how they stand. */
export type PayoutPeriodSummary = { period: string; payouts: number; amountCents: number; paid: number; failed: number; pending: number };

/** The periods that have payouts, newest first (at most `limit`), whoever ran them (an admin or the Cron Trigger). */
export async function listPayoutPeriods(db: Database, limit = 24): Promise<PayoutPeriodSummary[]> {
  const rows = await db
    .select({
      period: payouts.period,
      payouts: sql<number>`count(*)::int`,
      amountCents: sql<number>`coalesce(sum(${payouts.amountCents}), 0)::bigint`,
      paid: sql<number>`(count(*) filter (where ${payouts.status} = 'paid'))::int`,
      failed: sql<number>`(count(*) filter (where ${payouts.status} = 'failed'))::int`,
    })
    .from(payouts)
    .groupBy(payouts.period)
    .orderBy(desc(payouts.period))
    .limit(limit);
  return rows.map((row) => ({ ...row, amountCents: Number(row.amountCents), pending: row.payouts - row.paid - row.failed }));
}

/**
 * A period's reconciliation report without running anything: its payouts, each against its
 * earnings rows and its Stripe transfer (step 4 of {@link runPayouts}), for the admin console.
 */
export async function payoutReconciliation(deps: { db: Database; config: Config }, period: Month): Promise<Pick<PayoutRunReport, "period" | "payouts" | "mismatches">> {
  const report: PayoutRunReport = { period, matured: 0, created: 0, transferred: 0, adopted: 0, failed: [], payouts: [], mismatches: [] };
  await reconcile(deps, period, report);
  return { period, payouts: report.payouts, mismatches: report.mismatches };
}

/** Step 4: every payout of the period against its earnings rows and its Stripe transfer. */
async function reconcile(deps: { db: Database; config: Config }, period: string, report: PayoutRunReport) {
  const rows = await deps.db
    .select({
      payout: payouts,
      // Spelled out: drizzle leaves columns unqualified in a one-table select, and contributor_earnings has an id too.
      earningsCents: sql<number>`(select coalesce(sum(e.amount_cents), 0)::int from contributor_earnings e where e.payout_id = payouts.id)`,
    })
    .from(payouts)
    .where(eq(payouts.period, period));
  const stripe = stripeClient(deps.config);
  for (const { payout, earningsCents } of rows) {
    report.payouts.push({
      payoutId: payout.id,
      contributorId: payout.contributorId,
      amountCents: payout.amountCents,
      status: payout.status,
      stripeTransferId: payout.stripeTransferId,
    });
    const transferCents = payout.stripeTransferId ? (await stripe.transfers.retrieve(payout.stripeTransferId)).amount : null;
    if (earningsCents !== payout.amountCents || (transferCents !== null && transferCents !== payout.amountCents)) {
      report.mismatches.push({ payoutId: payout.id, payoutCents: payout.amountCents, earningsCents, transferCents });
    }
  }
}
