import { Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../env";
import { caller, input, spec } from "../lib/route";
import { MonthSchema } from "../services/commerce/months";
import { listPeriodPayouts, PayoutRunReportSchema, PeriodPayoutsSchema, runPayoutsAsAdmin } from "../services/commerce/payouts";

/** Contributor payouts for admins: the monthly run (also a Cron Trigger) and its results. */
export const payoutRoutes = new Hono<AppEnv>()
  .post(
    "/run",
    spec({
      summary: "Run (or re-run) the contributor payout for a period: safe to repeat, pays each contributor once",
      description: "The Cron Trigger runs it on the 1st of each month for the month before. The report lists each payout and any reconciliation mismatch.",
      tags: ["admin"],
      access: ["admin"],
      responses: { 200: { description: "What the run did", schema: PayoutRunReportSchema } },
    }),
    input("json", v.strictObject({ period: v.optional(MonthSchema) })),
    async (c) => {
      const by = { actorId: caller(c).userId, requestId: c.var.requestId };
      return c.json(await runPayoutsAsAdmin({ db: c.var.db, config: c.var.config, log: c.var.log }, { period: c.req.valid("json").period }, by));
    },
  )
  .get(
    "/",
    spec({
      summary: "Payouts of a period",
      tags: ["admin"],
      access: ["admin"],
      responses: { 200: { description: "Payouts, largest first", schema: PeriodPayoutsSchema } },
    }),
    input("query", v.strictObject({ period: MonthSchema })),
    async (c) => c.json(await listPeriodPayouts(c.var.db, c.req.valid("query").period)),
  );
