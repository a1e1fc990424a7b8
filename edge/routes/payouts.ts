import { desc, eq } from "drizzle-orm";
import { Hono } from "hono";
import * as v from "valibot";
import { payouts } from "../../db/schema";
import type { AppEnv } from "../env";
import { caller, input, spec } from "../lib/route";
import { audit } from "../services/admin/audit";
import { runPayouts } from "../services/commerce/payouts";

const Period = v.pipe(v.string(), v.regex(/^\d{4}-(0[1-9]|1[0-2])$/, "must be YYYY-MM"));

const ReportSchema = v.object({
  period: v.string(),
  matured: v.number(),
  created: v.number(),
  transferred: v.number(),
  adopted: v.number(),
  failed: v.array(v.object({ payoutId: v.string(), reason: v.string() })),
  payouts: v.array(v.object({ payoutId: v.string(), contributorId: v.string(), amountCents: v.number(), status: v.string(), stripeTransferId: v.nullable(v.string()) })),
  mismatches: v.array(v.object({ payoutId: v.string(), payoutCents: v.number(), earningsCents: v.number(), transferCents: v.nullable(v.number()) })),
});

/** Contributor payouts for admins: the monthly run (also a Cron Trigger) and its results. */
export const payoutRoutes = new Hono<AppEnv>()
  .post(
    "/run",
    spec({
      summary: "Run (or re-run) the contributor payout for a period: safe to repeat, pays each contributor once",
      description: "The Cron Trigger runs it on the 1st of each month for the month before. The report lists each payout and any reconciliation mismatch.",
      tags: ["admin"],
      access: ["admin"],
      responses: { 200: { description: "What the run did", schema: ReportSchema } },
    }),
    input("json", v.strictObject({ period: v.optional(Period) })),
    async (c) => {
      const report = await runPayouts({ db: c.var.db, config: c.var.config }, { period: c.req.valid("json").period });
      await audit(c.var.db, {
        actorId: caller(c).userId,
        action: "payout.run",
        targetType: "payout_period",
        targetId: report.period,
        detail: { created: report.created, transferred: report.transferred, adopted: report.adopted, failed: report.failed.length, mismatches: report.mismatches.length },
        requestId: c.get("requestId"),
      });
      return c.json(report);
    },
  )
  .get(
    "/",
    spec({
      summary: "Payouts of a period",
      tags: ["admin"],
      access: ["admin"],
      responses: {
        200: {
          description: "Payouts, largest first",
          schema: v.object({
            items: v.array(v.object({ id: v.string(), contributorId: v.string(), period: v.string(), amountCents: v.number(), currency: v.string(), status: v.string(), stripeTransferId: v.nullable(v.string()), failureReason: v.nullable(v.string()) })),
          }),
        },
      },
    }),
    input("query", v.strictObject({ period: Period })),
    async (c) => {
      const rows = await c.var.db.select().from(payouts).where(eq(payouts.period, c.req.valid("query").period)).orderBy(desc(payouts.amountCents)).limit(1000);
      return c.json({
        items: rows.map((p) => ({ id: p.id, contributorId: p.contributorId, period: p.period, amountCents: p.amountCents, currency: p.currency, status: p.status, stripeTransferId: p.stripeTransferId, failureReason: p.failureReason })),
      });
    },
  );
