import { env } from "cloudflare:test";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contributorEarnings, downloadEvents, images, licenses, payouts } from "../../db/schema";
import { readConfig } from "../../edge/config";
import type { PortfolioPage } from "../../edge/services/catalogue/portfolio";
import type { EarningsReport } from "../../edge/services/commerce/earnings";
import { api, expectProblem, signUp, testDb } from "./support";

/**
 * A contributor's portfolio, earnings and payouts, on ledger rows written straight to the
 * database: sales in every status, a sale reversed before payout (with its reversal), a reversal
 * after payout, and another contributor's rows that must never show.
 */

const { db, pool } = testDb();
afterAll(() => pool.end());

const DERIVATIVES = readConfig(env).DERIVATIVES_PUBLIC_URL.replace(/\/+$/, "");
const DAY = 86_400_000;

type Portfolio = PortfolioPage;
type Earnings = EarningsReport;
type Balances = Earnings["totals"];

let me: Awaited<ReturnType<typeof signUp>>;
let rival: Awaited<ReturnType<typeof signUp>>;
let buyer: Awaited<ReturnType<typeof signUp>>;
const image: Record<string, string> = {};

async function get<T>(path: string, token = me.accessToken): Promise<T> {
  const res = await api(path, { token });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as T;
}

beforeAll(async () => {
  [me, rival, buyer] = await Promise.all([signUp("contributor"), signUp("contributor"), signUp("buyer")]);
  const base = Date.now() - 10 * DAY;
  const insertImage = async (name: string, contributorId: string, offsetMinutes: number, values: Partial<typeof images.$inferInsert> = {}) => {
    const [row] = await db
      .insert(images)
      .values({ contributorId, title: name, status: "approved", stage: "done", createdAt: new Date(base + offsetMinutes * 60_000), ...values })
      .returning({ id: images.id });
    if (!row) throw new Error("insert failed");
    image[name] = row.id;
  };
  await insertImage("lighthouse", me.userId, 0, { viewCount: 42, publishedAt: new Date(base), derivativeKeys: { thumb450: "images/l/thumb-450.webp" } });
  await insertImage("meadow", me.userId, 1, { viewCount: 7, publishedAt: new Date(base) });
  await insertImage("blurry", me.userId, 2, { status: "rejected", statusReason: "out of focus" });
  await insertImage("queued", me.userId, 3, { status: "pending_review", stage: "done" });
  await insertImage("rivalsCity", rival.userId, 0, { viewCount: 1000 });

  // One license per ledger entry pair: unique (license_id, kind).
  const licenseFor = async (imageId: string) => {
    const [row] = await db.insert(licenses).values({ buyerId: buyer.userId, imageId, licenseType: "standard", priceCents: 2000 }).returning({ id: licenses.id });
    if (!row) throw new Error("insert failed");
    return row.id;
  };
  const [payout] = await db
    .insert(payouts)
    .values({ contributorId: me.userId, period: "2026-01", amountCents: 1900, status: "paid", stripeTransferId: `tr_${crypto.randomUUID()}`, createdAt: new Date(base) })
    .returning({ id: payouts.id });
  await db.insert(payouts).values([
    { contributorId: me.userId, period: "2026-02", amountCents: 1200, status: "failed", failureReason: "account closed", createdAt: new Date(base + DAY) },
    { contributorId: me.userId, period: "2026-03", amountCents: 300, status: "pending", createdAt: new Date(base + 2 * DAY) },
    { contributorId: rival.userId, period: "2026-01", amountCents: 99_999, status: "paid" },
  ]);

  type Entry = {
    name: string;
    imageId: string;
    amountCents: number;
    status: "pending" | "available" | "paid" | "reversed";
    at: string;
    availableAt?: Date;
    reversal?: Omit<Entry, "name" | "imageId" | "reversal">;
  };
  const future = new Date(Date.now() + 20 * DAY);
  const past = new Date(Date.now() - DAY);
  const entries: Entry[] = [
    { name: "paidSale", imageId: image.lighthouse as string, amountCents: 1000, status: "paid", at: "2026-01-10T10:00:00Z" },
    { name: "heldSale", imageId: image.lighthouse as string, amountCents: 800, status: "pending", at: "2026-02-05T10:00:00Z", availableAt: future },
    // Pending in the table, but its hold has ended: it counts as available already.
    { name: "releasedSale", imageId: image.lighthouse as string, amountCents: 600, status: "pending", at: "2026-02-28T23:59:59Z", availableAt: past },
    { name: "availableSale", imageId: image.meadow as string, amountCents: 500, status: "available", at: "2026-03-01T00:00:00Z" },
    // Refunded before payout: the sale and its reversal are both marked reversed and net to zero.
    {
      name: "refundedSale",
      imageId: image.lighthouse as string,
      amountCents: 700,
      status: "reversed",
      at: "2026-03-02T10:00:00Z",
      reversal: { amountCents: -700, status: "reversed", at: "2026-03-03T10:00:00Z" },
    },
    // Refunded after payout: the sale stays paid; the negative reversal waits for the next payout.
    {
      name: "clawedBackSale",
      imageId: image.meadow as string,
      amountCents: 900,
      status: "paid",
      at: "2026-01-15T10:00:00Z",
      reversal: { amountCents: -900, status: "pending", at: "2026-03-10T10:00:00Z" },
    },
  ];
  for (const entry of entries) {
    const licenseId = await licenseFor(entry.imageId);
    const [sale] = await db
      .insert(contributorEarnings)
      .values({
        contributorId: me.userId,
        licenseId,
        imageId: entry.imageId,
        kind: "sale",
        grossCents: entry.amountCents * 4,
        shareBps: 2500,
        amountCents: entry.amountCents,
        status: entry.status,
        availableAt: entry.availableAt ?? null,
        payoutId: entry.status === "paid" ? payout?.id : null,
        createdAt: new Date(entry.at),
      })
      .returning({ id: contributorEarnings.id });
    if (entry.reversal && sale) {
      await db.insert(contributorEarnings).values({
        contributorId: me.userId,
        licenseId,
        imageId: entry.imageId,
        kind: "reversal",
        grossCents: -entry.amountCents * 4,
        shareBps: 2500,
        amountCents: entry.reversal.amountCents,
        status: entry.reversal.status,
        reversalOf: sale.id,
        createdAt: new Date(entry.reversal.at),
      });
    }
  }
  // The rival's sale of the rival's image: it must never reach my figures.
  const rivalLicense = await licenseFor(image.rivalsCity as string);
  await db.insert(contributorEarnings).values({
    contributorId: rival.userId,
    licenseId: rivalLicense,
    imageId: image.rivalsCity as string,
    grossCents: 20_000,
    shareBps: 2500,
    amountCents: 5000,
    status: "available",
    createdAt: new Date("2026-02-10T00:00:00Z"),
  });

  const lighthouseLicense = await licenseFor(image.lighthouse as string);
  await db.insert(downloadEvents).values([
    { licenseId: lighthouseLicense, userId: buyer.userId, imageId: image.lighthouse as string },
    { licenseId: lighthouseLicense, userId: buyer.userId, imageId: image.lighthouse as string },
    { licenseId: lighthouseLicense, userId: buyer.userId, imageId: image.lighthouse as string },
    { licenseId: rivalLicense, userId: buyer.userId, imageId: image.rivalsCity as string },
  ]);
});

/** The ledger figures of one image, straight from SQL. */
async function directFigures(imageId: string) {
  const { rows } = await pool.query<{ downloads: number; sales: number; earned: number }>(
    `select
       (select count(*)::int from download_events where image_id = $1) as downloads,
       (select count(*)::int from contributor_earnings where image_id = $1 and kind = 'sale' and status <> 'reversed') as sales,
       (select coalesce(sum(amount_cents), 0)::int from contributor_earnings where image_id = $1 and status <> 'reversed') as earned`,
    [imageId],
  );
  return rows[0];
}

describe("GET /v1/contributor/portfolio", () => {
  it("lists my images newest first with views, downloads, standing sales and earnings equal to direct SQL", async () => {
    const page = await get<Portfolio>("/v1/contributor/portfolio");
    expect(page.items.map((item) => item.title)).toEqual(["queued", "blurry", "meadow", "lighthouse"]);
    for (const item of page.items) {
      const direct = await directFigures(item.id);
      expect({ downloads: item.downloads, sales: item.sales, earned: item.earnedCents }, item.title).toEqual(direct);
    }
    const byTitle = Object.fromEntries(page.items.map((item) => [item.title, item]));
    expect(byTitle.lighthouse).toMatchObject({ views: 42, downloads: 3, sales: 3, earnedCents: 2400, status: "approved", thumbnailUrl: `${DERIVATIVES}/images/l/thumb-450.webp` });
    expect(byTitle.meadow).toMatchObject({ views: 7, downloads: 0, sales: 2, earnedCents: 500, thumbnailUrl: null });
    expect(byTitle.blurry).toMatchObject({ status: "rejected", statusReason: "out of focus", sales: 0, earnedCents: 0, publishedAt: null });
  });

  it("pages without duplicates or gaps and filters by status", async () => {
    const first = await get<Portfolio>("/v1/contributor/portfolio?limit=3");
    expect(first.items).toHaveLength(3);
    const second = await get<Portfolio>(`/v1/contributor/portfolio?limit=3&cursor=${first.nextCursor}`);
    expect(second.nextCursor).toBeNull();
    expect([...first.items, ...second.items].map((item) => item.title)).toEqual(["queued", "blurry", "meadow", "lighthouse"]);
    expect((await get<Portfolio>("/v1/contributor/portfolio?status=approved")).items.map((item) => item.title)).toEqual(["meadow", "lighthouse"]);
    expect((await get<Portfolio>("/v1/contributor/portfolio?status=pending_review")).items.map((item) => item.title)).toEqual(["queued"]);
  });

  it("never lists another contributor's images", async () => {
    const page = await get<Portfolio>("/v1/contributor/portfolio", rival.accessToken);
    expect(page.items.map((item) => item.title)).toEqual(["rivalsCity"]);
    expect(page.items[0]).toMatchObject({ views: 1000, downloads: 1, sales: 1, earnedCents: 5000 });
  });
});

describe("GET /v1/contributor/earnings", () => {
  /** Balances per month of my ledger, straight from SQL, with the same status rules. */
  async function directPeriods(from = "0000-01", to = "9999-12") {
    const { rows } = await pool.query<{ period: string; pendingCents: number; availableCents: number; paidCents: number }>(
      `select to_char(created_at at time zone 'UTC', 'YYYY-MM') as period,
         coalesce(sum(amount_cents) filter (where status = 'pending' and (available_at is null or available_at > now())), 0)::int as "pendingCents",
         coalesce(sum(amount_cents) filter (where status = 'available' or (status = 'pending' and available_at <= now())), 0)::int as "availableCents",
         coalesce(sum(amount_cents) filter (where status = 'paid'), 0)::int as "paidCents"
       from contributor_earnings
       where contributor_id = $1 and status <> 'reversed' and to_char(created_at at time zone 'UTC', 'YYYY-MM') between $2 and $3
       group by 1 order by 1`,
      [me.userId, from, to],
    );
    return rows;
  }

  it("reports totals, months and images equal to direct SQL over the ledger", async () => {
    const report = await get<Earnings>("/v1/contributor/earnings");
    expect(report.currency).toBe("usd");
    expect(report.periods).toEqual(await directPeriods());
    expect(report.periods).toEqual([
      { period: "2026-01", pendingCents: 0, availableCents: 0, paidCents: 1900 },
      { period: "2026-02", pendingCents: 800, availableCents: 600, paidCents: 0 },
      { period: "2026-03", pendingCents: -900, availableCents: 500, paidCents: 0 },
    ]);
    const { rows } = await pool.query<Balances>(
      `select
         coalesce(sum(amount_cents) filter (where status = 'pending' and (available_at is null or available_at > now())), 0)::int as "pendingCents",
         coalesce(sum(amount_cents) filter (where status = 'available' or (status = 'pending' and available_at <= now())), 0)::int as "availableCents",
         coalesce(sum(amount_cents) filter (where status = 'paid'), 0)::int as "paidCents"
       from contributor_earnings where contributor_id = $1 and status <> 'reversed'`,
      [me.userId],
    );
    expect(report.totals).toEqual(rows[0]);
    expect(report.totals).toEqual({ pendingCents: -100, availableCents: 1100, paidCents: 1900 });
    expect(report.images).toEqual([
      { imageId: image.lighthouse, title: "lighthouse", pendingCents: 800, availableCents: 600, paidCents: 1000, sales: 3 },
      { imageId: image.meadow, title: "meadow", pendingCents: -900, availableCents: 500, paidCents: 900, sales: 2 },
    ]);
    for (const figure of Object.values(report.totals)) expect(Number.isInteger(figure)).toBe(true);
  });

  it("restricts every figure to the months asked for (inclusive, UTC)", async () => {
    const february = await get<Earnings>("/v1/contributor/earnings?from=2026-02&to=2026-02");
    expect(february.periods).toEqual(await directPeriods("2026-02", "2026-02"));
    expect(february.totals).toEqual({ pendingCents: 800, availableCents: 600, paidCents: 0 });
    expect(february.images).toEqual([{ imageId: image.lighthouse, title: "lighthouse", pendingCents: 800, availableCents: 600, paidCents: 0, sales: 2 }]);
    const fromMarch = await get<Earnings>("/v1/contributor/earnings?from=2026-03");
    expect(fromMarch.periods.map((p) => p.period)).toEqual(["2026-03"]);
    const untilJanuary = await get<Earnings>("/v1/contributor/earnings?to=2026-01");
    expect(untilJanuary.totals).toEqual({ pendingCents: 0, availableCents: 0, paidCents: 1900 });
  });

  it("refuses a range that ends before it starts", async () => {
    await expectProblem(await api("/v1/contributor/earnings?from=2026-03&to=2026-02", { token: me.accessToken }), 422, "validation-failed");
  });

  it("never includes another contributor's earnings", async () => {
    const report = await get<Earnings>("/v1/contributor/earnings", rival.accessToken);
    expect(report.totals).toEqual({ pendingCents: 0, availableCents: 5000, paidCents: 0 });
    expect(report.images.map((i) => i.imageId)).toEqual([image.rivalsCity]);
  });
});

describe("GET /v1/contributor/payouts", () => {
  it("lists my payouts newest first, a page at a time", async () => {
    type Payouts = { items: { period: string; amountCents: number; status: string; failureReason: string | null; stripeTransferId: string | null }[]; nextCursor: string | null };
    const all = await get<Payouts>("/v1/contributor/payouts");
    expect(all.items.map((p) => [p.period, p.amountCents, p.status])).toEqual([
      ["2026-03", 300, "pending"],
      ["2026-02", 1200, "failed"],
      ["2026-01", 1900, "paid"],
    ]);
    expect(all.items[1]?.failureReason).toBe("account closed");
    expect(all.items[2]?.stripeTransferId).toMatch(/^tr_/);
    const first = await get<Payouts>("/v1/contributor/payouts?limit=2");
    const second = await get<Payouts>(`/v1/contributor/payouts?limit=2&cursor=${first.nextCursor}`);
    expect([...first.items, ...second.items].map((p) => p.period)).toEqual(["2026-03", "2026-02", "2026-01"]);
    expect(second.nextCursor).toBeNull();
  });
});

describe("access", () => {
  it("refuses buyers and admins with 403", async () => {
    const admin = await signUp("admin");
    for (const path of ["/v1/contributor/portfolio", "/v1/contributor/earnings", "/v1/contributor/payouts"]) {
      await expectProblem(await api(path, { token: buyer.accessToken }), 403, "forbidden");
      await expectProblem(await api(path, { token: admin.accessToken }), 403, "forbidden");
    }
  });

  it("keeps the ledger untouched by reads", async () => {
    const count = async () => (await db.execute<{ n: number }>(sql`select count(*)::int as n from contributor_earnings where contributor_id = ${me.userId}`)).rows[0]?.n;
    const before = await count();
    await get<Earnings>("/v1/contributor/earnings");
    expect(await count()).toBe(before);
  });
});
