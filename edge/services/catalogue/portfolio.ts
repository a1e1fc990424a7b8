import { and, count, eq, sql } from "drizzle-orm";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { IMAGE_STAGES, type ImageStatus, imageStatus, images } from "../../../db/schema";
import { CURRENCY_DEFAULT } from "../../../db/schema/columns";
import { afterCursor, type CursorPosition, newestFirst, page } from "../../lib/pagination";
import * as s from "../../lib/schemas";
import { type RenditionViewers, renditionUrlsFor } from "./renditions";

/** One of a contributor's images, with its figures. */
export const PortfolioImageSchema = v.object({
  id: s.uuid,
  title: v.string(),
  status: v.picklist(imageStatus.enumValues),
  statusReason: v.nullable(v.string()),
  stage: v.picklist(IMAGE_STAGES),
  /** Public while listed; otherwise a presigned URL of the private copy (15 minutes). */
  thumbnailUrl: v.nullable(v.string()),
  createdAt: v.string(),
  publishedAt: v.nullable(v.string()),
  withdrawnAt: v.nullable(v.string()),
  takenDownAt: v.nullable(v.string()),
  views: v.number(),
  downloads: v.number(),
  sales: v.number(),
  earnedCents: v.number(),
});
export type PortfolioImage = v.InferOutput<typeof PortfolioImageSchema>;

/** `GET /v1/contributor/images`: a page of the contributor's images. */
export const PortfolioPageSchema = s.pageOf(PortfolioImageSchema);
export type PortfolioPage = v.InferOutput<typeof PortfolioPageSchema>;

/**
 * A contributor's images, newest first, each with its figures: views, downloads handed out, sales
 * that stand (not reversed) and what it earned in the marketplace currency (sales and reversals,
 * leaving out pairs reversed before payout, which net to zero). One query per page: the figures
 * are correlated subqueries (download_events by its image index, the ledger by its contributor
 * index).
 */
export async function listPortfolio(
  db: Database,
  contributorId: string,
  filter: { status?: ImageStatus },
  limit: number,
  after: CursorPosition | undefined,
  renditions: RenditionViewers,
): Promise<PortfolioPage> {
  // Written out with aliases: drizzle leaves columns unqualified in a single-table select, and
  // the subqueries must point at the outer image row.
  const earnings = (aggregate: string) => sql`(
    select ${sql.raw(aggregate)} from contributor_earnings e
    where e.image_id = "images"."id" and e.contributor_id = ${contributorId} and e.currency = ${CURRENCY_DEFAULT} and e.status <> 'reversed'
  )`;
  const rows = await db
    .select({
      id: images.id,
      title: images.title,
      status: images.status,
      statusReason: images.statusReason,
      stage: images.stage,
      derivativeKeys: images.derivativeKeys,
      createdAt: images.createdAt,
      publishedAt: images.publishedAt,
      withdrawnAt: images.withdrawnAt,
      takenDownAt: images.takenDownAt,
      views: images.viewCount,
      downloads: sql<number>`(select count(*) from download_events d where d.image_id = "images"."id")`.mapWith(Number),
      sales: earnings("count(*) filter (where e.kind = 'sale')").mapWith(Number),
      earnedCents: earnings("coalesce(sum(e.amount_cents), 0)::bigint").mapWith(Number),
    })
    .from(images)
    .where(and(eq(images.contributorId, contributorId), filter.status ? eq(images.status, filter.status) : undefined, afterCursor(images.createdAt, images.id, after)))
    .orderBy(...newestFirst(images.createdAt, images.id))
    .limit(limit + 1);
  const { items, nextCursor } = page(rows, limit);
  return {
    items: await Promise.all(
      items.map(
        async ({ derivativeKeys, ...row }): Promise<PortfolioImage> => ({
          ...row,
          thumbnailUrl: (await renditionUrlsFor(renditions, { ...row, derivativeKeys: derivativeKeys?.thumb450 ? { thumb450: derivativeKeys.thumb450 } : null })).thumb450 ?? null,
          createdAt: row.createdAt.toISOString(),
          publishedAt: row.publishedAt?.toISOString() ?? null,
          withdrawnAt: row.withdrawnAt?.toISOString() ?? null,
          takenDownAt: row.takenDownAt?.toISOString() ?? null,
        }),
      ),
    ),
    nextCursor,
  };
}

/** How many of a contributor's images are in each status (every status present, zero when none). */
export async function portfolioCounts(db: Database, contributorId: string): Promise<Record<ImageStatus, number>> {
  const rows = await db.select({ status: images.status, n: count() }).from(images).where(eq(images.contributorId, contributorId)).groupBy(images.status);
  const counts = Object.fromEntries(imageStatus.enumValues.map((status) => [status, 0])) as Record<ImageStatus, number>;
  for (const row of rows) counts[row.status] = Number(row.n);
  return counts;
}
