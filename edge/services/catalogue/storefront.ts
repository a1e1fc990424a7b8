import { and, asc, desc, eq, sql } from "drizzle-orm";
import { listedSql, safeForSearchSql } from "../../../common/images";
import type { Database } from "../../../db/connect";
import { categories, imageCategories, images, users } from "../../../db/schema";
import type { PublicUrls } from "../../adapters/public-urls";
import { ApiError } from "../../lib/problem";

/**
 * What the storefront's own pages list that no API route does: the home page's categories, popular
 * and new images, a contributor's public profile, and the sitemap's image pages. Every list goes
 * through the listing rule (common/images.ts): only listed images appear anywhere public.
 */

/** An image as a grid tile shows it: its thumbnail and its dominant colour (the placeholder). */
export type StorefrontTile = { id: string; title: string; thumbnailUrl: string | null; colour: string | null; width: number | null; height: number | null };

const tileColumns = {
  id: images.id,
  title: images.title,
  width: images.width,
  height: images.height,
  derivativeKeys: images.derivativeKeys,
  colour: sql<string | null>`${images.palette}->0->>'hex'`,
};

type TileRow = { id: string; title: string; width: number | null; height: number | null; derivativeKeys: Record<string, string | undefined> | null; colour: string | null };

const HEX = /^#[0-9a-fA-F]{6}$/;

function tile(row: TileRow, urls: Pick<PublicUrls, "rendition">): StorefrontTile {
  const key = row.derivativeKeys?.thumb450 ?? row.derivativeKeys?.thumb150;
  return {
    id: row.id,
    title: row.title,
    thumbnailUrl: key ? urls.rendition(key) : null,
    // Only a well-formed colour reaches a style attribute.
    colour: row.colour && HEX.test(row.colour) ? row.colour : null,
    width: row.width,
    height: row.height,
  };
}

/** A category with how many listed, safe images it holds. */
export type CategoryCount = { slug: string; name: string; images: number };

/** Every category in display order, each with its count of listed images safe search shows. */
export async function categoriesWithCounts(db: Database): Promise<CategoryCount[]> {
  const rows = await db
    .select({
      slug: categories.slug,
      name: categories.name,
      images: sql<number>`(select count(*) from ${imageCategories} ic join ${images} i on i.id = ic.image_id
        where ic.category_slug = ${categories.slug} and ${listedSql("i")} and ${safeForSearchSql("i")})`.mapWith(Number),
    })
    .from(categories)
    .orderBy(asc(categories.sortOrder), asc(categories.name));
  return rows;
}

/**
 * The home page's lists: the newest listed images and the most popular ones (sales, then
 * downloads, then views), both safe for search.
 */
export async function homeImages(db: Database, urls: Pick<PublicUrls, "rendition">, limit = 12): Promise<{ popular: StorefrontTile[]; newest: StorefrontTile[] }> {
  const visible = and(listedSql(), safeForSearchSql());
  const [popular, newest] = await Promise.all([
    db
      .select(tileColumns)
      .from(images)
      .where(visible)
      .orderBy(desc(sql`${images.saleCount} + 0.1 * ${images.downloadCount}`), desc(images.viewCount), desc(images.publishedAt), asc(images.id))
      .limit(limit),
    db.select(tileColumns).from(images).where(visible).orderBy(sql`${images.publishedAt} desc nulls last`, asc(images.id)).limit(limit),
  ]);
  return { popular: popular.map((r) => tile(r, urls)), newest: newest.map((r) => tile(r, urls)) };
}

/** A contributor's public profile: their name and one page of their listed images, newest first. */
export type ContributorProfile = { id: string; displayName: string; total: number; page: number; perPage: number; images: StorefrontTile[] };

/**
 * A contributor's profile. 404 unless the account is a contributor's; their images are the listed
 * ones only (safe search does not apply: a buyer asked for this contributor by name).
 */
export async function contributorProfile(db: Database, urls: Pick<PublicUrls, "rendition">, contributorId: string, page: number, perPage = 24): Promise<ContributorProfile> {
  const [user] = await db.select({ id: users.id, displayName: users.displayName, role: users.role }).from(users).where(eq(users.id, contributorId));
  if (user?.role !== "contributor") throw new ApiError("not-found", "no such contributor");
  const mine = and(eq(images.contributorId, contributorId), listedSql());
  const [counted, rows] = await Promise.all([
    db
      .select({ n: sql<number>`count(*)`.mapWith(Number) })
      .from(images)
      .where(mine),
    db
      .select(tileColumns)
      .from(images)
      .where(mine)
      .orderBy(sql`${images.publishedAt} desc nulls last`, asc(images.id))
      .limit(perPage)
      .offset((page - 1) * perPage),
  ]);
  return { id: user.id, displayName: user.displayName, total: counted[0]?.n ?? 0, page, perPage, images: rows.map((r) => tile(r, urls)) };
}

/** The most URLs one sitemap file may hold (sitemaps.org). */
export const SITEMAP_MAX_URLS = 50_000;

/** How many listed images the sitemap lists. */
export async function sitemapImageCount(db: Database): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)`.mapWith(Number) })
    .from(images)
    .where(listedSql());
  return row?.n ?? 0;
}

/** One page of listed images for the sitemap, in a stable order, with when each last changed. */
export async function sitemapImages(db: Database, offset: number, limit = SITEMAP_MAX_URLS): Promise<{ id: string; lastModified: Date | null }[]> {
  return db
    .select({ id: images.id, lastModified: sql<Date | null>`coalesce(${images.updatedAt}, ${images.publishedAt})`.mapWith((v) => (v ? new Date(v) : null)) })
    .from(images)
    .where(listedSql())
    .orderBy(asc(images.id))
    .limit(limit)
    .offset(offset);
}
