import { Hono } from "hono";
import * as v from "valibot";
import { imageStatus } from "../../db/schema";
import type { AppEnv } from "../env";
import { decodeCursor } from "../lib/pagination";
import { caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { listPortfolio, PortfolioPageSchema } from "../services/catalogue/portfolio";
import { EarningsReportSchema, earningsReport } from "../services/commerce/earnings";
import { MonthSchema } from "../services/commerce/months";
import { PayoutSettingsSchema, payoutSettings, startOnboarding } from "../services/commerce/payout-accounts";
import { listContributorPayouts, PayoutPageSchema } from "../services/commerce/payout-history";

const EarningsQuery = v.pipe(
  v.strictObject({ from: v.optional(MonthSchema), to: v.optional(MonthSchema) }),
  v.forward(
    v.check((range) => !range.from || !range.to || range.from <= range.to, "must not be before from"),
    ["to"],
  ),
);

const access = ["contributor"] as const;

/** A contributor's portfolio with its figures, earnings and payouts. */
export const contributorRoutes = new Hono<AppEnv>()
  .get(
    "/portfolio",
    spec({
      summary: "Your images, newest first, with views, downloads, sales and earnings",
      description:
        "Every image you uploaded, whatever its status (filter with `status`). Sales and earnings leave out sales reversed before payout. `thumbnailUrl` is public for a listed image and a presigned URL (15 minutes) for any other.",
      tags: ["contributor"],
      access,
      responses: { 200: { description: "A page of images", schema: PortfolioPageSchema } },
    }),
    input("query", v.strictObject({ ...s.pageQuery, status: v.optional(v.picklist(imageStatus.enumValues)) })),
    async (c) => {
      const { limit, cursor, status } = c.req.valid("query");
      return c.json(
        await listPortfolio(c.var.db, caller(c).userId, { status }, limit, cursor ? decodeCursor(cursor) : undefined, { config: c.var.config, s3: c.var.s3, urls: c.var.urls }),
      );
    },
  )
  .get(
    "/earnings",
    spec({
      summary: "Your earnings: pending, available and paid, by month and by image",
      description:
        "In integer cents of the marketplace currency. Pending earnings are held for the refund window; once it ends they count as available, and paid once a payout includes them. Refunds add negative rows; a sale refunded before payout is left out with its reversal. `from` and `to` (months, inclusive, UTC) restrict every figure.",
      tags: ["contributor"],
      access,
      responses: { 200: { description: "Earnings report", schema: EarningsReportSchema } },
    }),
    input("query", EarningsQuery),
    async (c) => c.json(await earningsReport(c.var.db, caller(c).userId, c.req.valid("query"))),
  )
  .get(
    "/payouts",
    spec({
      summary: "Your payouts, newest first",
      tags: ["contributor"],
      access,
      responses: { 200: { description: "A page of payouts", schema: PayoutPageSchema } },
    }),
    input("query", v.strictObject(s.pageQuery)),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      return c.json(await listContributorPayouts(c.var.db, caller(c).userId, limit, cursor ? decodeCursor(cursor) : undefined));
    },
  )
  .get(
    "/payout-settings",
    spec({
      summary: "Your payout account: whether Stripe Connect can pay you",
      tags: ["contributor"],
      access,
      responses: { 200: { description: "Payout settings", schema: PayoutSettingsSchema } },
    }),
    async (c) => c.json(await payoutSettings(c.var.db, caller(c).userId)),
  )
  .put(
    "/payout-settings",
    spec({
      summary: "Set up payouts: creates your Stripe Connect Express account (once) and returns a fresh onboarding link",
      description:
        "Open onboardingUrl to give Stripe your payout details; payouts start once Stripe reports the account ready (account.updated webhook). Calling again gives a new link for the same account.",
      tags: ["contributor"],
      access,
      responses: { 200: { description: "Payout settings with an onboarding link", schema: PayoutSettingsSchema }, 502: { description: "Stripe refused or did not answer" } },
    }),
    input("json", v.strictObject({})),
    async (c) => c.json(await startOnboarding({ db: c.var.db, config: c.var.config, urls: c.var.urls }, caller(c).userId)),
  );
