import { and, asc, desc, eq, gt, gte, isNotNull, sql } from "drizzle-orm";
import * as v from "valibot";
import { DERIVATIVE_CACHE_CONTROL, isListed, PRIVATE_RENDITION_CACHE_CONTROL, privateRenditionKey, RENDITIONS, type RenditionName, renditionFile } from "../../../common/images";
import type { Logger } from "../../../common/log";
import type { S3Client } from "../../../common/s3";
import type { Database } from "../../../db/connect";
import { type DerivativeKeys, type ImageStatus, images } from "../../../db/schema";
import type { PublicUrls } from "../../adapters/public-urls";
import type { Config } from "../../config";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import type { RenditionUrls } from "./schemas";

/**
 * Where an image's renditions may be seen. Every rendition has a private copy in the originals
 * bucket (`renditions/images/{id}/...`, written by the worker and the migration); the public
 * derivatives bucket, served to anyone by R2 and the CDN from DERIVATIVES_PUBLIC_URL, holds a copy
 * only while the image is listed (approved, not withdrawn, not taken down). Every change of
 * listing calls syncRenditions after its commit; contributors and admins see unlisted images
 * through short-lived presigned GETs of the private copies.
 */

/** Presigned rendition URLs for contributors and moderators live 15 minutes. */
export const RENDITION_URL_TTL_SECONDS = 900;

export type RenditionBuckets = Pick<Env, "ORIGINALS" | "DERIVATIVES">;

/** What syncing the public bucket needs: the buckets, the public URLs to purge, the CDN's credentials. */
export type RenditionDeps = { db: Database; env: RenditionBuckets; config: Config; urls: PublicUrls; log: Logger; fetch?: typeof fetch };

/** What showing an image's renditions to its contributor or an admin needs: public URLs, or presigned ones. */
export type RenditionViewers = { config: Pick<Config, "ORIGINALS_BUCKET_NAME">; s3: S3Client; urls: PublicUrls };

/** What decides where an image's renditions may be seen. */
export type ListingState = { id: string; status: ImageStatus; withdrawnAt: Date | null; takenDownAt: Date | null; derivativeKeys: DerivativeKeys | null };

/** The columns {@link ListingState} reads, to select beside others (`{ ...listingColumns, title: images.title }`). */
export const listingColumns = { id: images.id, status: images.status, withdrawnAt: images.withdrawnAt, takenDownAt: images.takenDownAt, derivativeKeys: images.derivativeKeys };

const keysOf = (keys: DerivativeKeys | null) => Object.values(keys ?? {}).filter((key): key is string => typeof key === "string" && key.length > 0);

async function listingOf(db: Database, imageId: string): Promise<ListingState | undefined> {
  const [row] = await db.select(listingColumns).from(images).where(eq(images.id, imageId));
  return row;
}

/** Copies private → public, as public immutable objects; with onlyMissing, leaves existing public objects alone. Returns the keys written. */
async function copyToPublic(buckets: RenditionBuckets, keys: string[], onlyMissing: boolean): Promise<string[]> {
  const copied = await Promise.all(
    keys.map(async (key) => {
      if (onlyMissing && (await buckets.DERIVATIVES.head(key))) return null;
      const source = await buckets.ORIGINALS.get(privateRenditionKey(key));
      // Nothing private to publish: an image from before private copies whose public copy is gone.
      if (!source) return null;
      await buckets.DERIVATIVES.put(key, await source.arrayBuffer(), {
        httpMetadata: { contentType: source.httpMetadata?.contentType ?? "image/webp", cacheControl: DERIVATIVE_CACHE_CONTROL },
      });
      return key;
    }),
  );
  return copied.filter((key): key is string => key !== null);
}

/**
 * Deletes the public copies. One written before private copies existed is first kept as the
 * private copy, so its contributor still sees it and a later approval can publish it again.
 * Returns the keys that were public.
 */
async function removePublic(buckets: RenditionBuckets, keys: string[]): Promise<string[]> {
  const found = await Promise.all(
    keys.map(async (key) => {
      const published = await buckets.DERIVATIVES.get(key);
      if (!published) return null;
      const privateKey = privateRenditionKey(key);
      if (await buckets.ORIGINALS.head(privateKey)) {
        await published.body.cancel();
      } else {
        await buckets.ORIGINALS.put(privateKey, await published.arrayBuffer(), {
          httpMetadata: { contentType: published.httpMetadata?.contentType ?? "image/webp", cacheControl: PRIVATE_RENDITION_CACHE_CONTROL },
        });
      }
      return key;
    }),
  );
  const removed = found.filter((key): key is string => key !== null);
  if (removed.length > 0) await buckets.DERIVATIVES.delete(removed);
  return removed;
}

/**
 * Purges the URLs from Cloudflare's cache when CLOUDFLARE_ZONE_ID and CLOUDFLARE_API_TOKEN are set
 * (renditions are cached for a year, immutable: a takedown must purge them). Never throws: the
 * listing change has committed; a failed purge is logged for the operator (README, "Renditions of unlisted images").
 */
export async function purgeFromCdn(deps: Pick<RenditionDeps, "config" | "log" | "fetch">, urls: string[]): Promise<"purged" | "not-configured" | "failed"> {
  const { CLOUDFLARE_ZONE_ID: zone, CLOUDFLARE_API_TOKEN: token } = deps.config;
  if (urls.length === 0) return "purged";
  if (!zone || !token) return "not-configured";
  const send = deps.fetch ?? fetch;
  try {
    const res = await send(`https://api.cloudflare.com/client/v4/zones/${encodeURIComponent(zone)}/purge_cache`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ files: urls }),
    });
    if (res.ok) return "purged";
    deps.log.error("CDN purge refused", { status: res.status, body: (await res.text()).slice(0, 500), urls });
  } catch (error) {
    deps.log.error("CDN purge failed", { error: String(error), urls });
  }
  return "failed";
}

/** The file names of an image's renditions in the public bucket (`images/{id}/{file}`). */
export const RENDITION_FILES = (Object.keys(RENDITIONS) as RenditionName[]).map(renditionFile);

/**
 * A listed image's rendition from the public bucket; 404 for an unlisted image, so a rendition
 * left behind by a failed sync is not served either.
 */
export async function publicRendition(deps: { db: Database; env: Pick<RenditionBuckets, "DERIVATIVES"> }, imageId: string, file: string): Promise<R2ObjectBody> {
  const image = await listingOf(deps.db, imageId);
  if (!image || !isListed(image)) throw new ApiError("not-found", "no such rendition");
  const object = await deps.env.DERIVATIVES.get(`images/${imageId}/${file}`);
  if (!object) throw new ApiError("not-found", "no such rendition");
  return object;
}

export type RenditionSync = { listed: boolean; published: string[]; unpublished: string[]; purge: "purged" | "not-configured" | "failed" | "none" };

/**
 * Makes the public bucket agree with the image's listing, read after the caller's commit: a
 * listed image gets its public copies (from the private ones), an unlisted one loses them (and
 * the CDN purges their URLs). After publishing, the listing is read again and the copies removed
 * if it changed meanwhile, so of an approval and a takedown racing, the takedown's state wins.
 * Idempotent; call it after every change of status, withdrawnAt or takenDownAt.
 */
export async function syncRenditions(deps: RenditionDeps, imageId: string, options: { onlyMissing?: boolean } = {}): Promise<RenditionSync> {
  const image = await listingOf(deps.db, imageId);
  if (!image) return { listed: false, published: [], unpublished: [], purge: "none" };
  return syncListing(deps, image, options);
}

async function syncListing(deps: RenditionDeps, image: ListingState, options: { onlyMissing?: boolean }): Promise<RenditionSync> {
  const keys = keysOf(image.derivativeKeys);
  if (isListed(image)) {
    const published = await copyToPublic(deps.env, keys, options.onlyMissing ?? false);
    const now = await listingOf(deps.db, image.id);
    if (now && isListed(now)) return { listed: true, published, unpublished: [], purge: "none" };
  }
  const unpublished = await removePublic(deps.env, keys);
  const purge = unpublished.length > 0 ? await purgeFromCdn(deps, unpublished.map(deps.urls.rendition)) : "none";
  return { listed: false, published: [], unpublished, purge };
}

/**
 * URLs of an image's renditions for whoever may see it: the public ones while it is listed,
 * otherwise presigned GETs of the private copies (RENDITION_URL_TTL_SECONDS). Only for callers
 * entitled to the image (its contributor, admins): never put these in a public response.
 */
export async function renditionUrlsFor(deps: RenditionViewers, image: Omit<ListingState, "id">): Promise<RenditionUrls> {
  if (isListed(image)) return deps.urls.renditions(image.derivativeKeys);
  // Presigning is local signing: no request leaves the Worker.
  const entries = await Promise.all(
    Object.entries(image.derivativeKeys ?? {}).map(async ([name, key]) => {
      const signed = await deps.s3.presign("GET", deps.config.ORIGINALS_BUCKET_NAME, privateRenditionKey(key), {
        expiresIn: RENDITION_URL_TTL_SECONDS,
        query: { "response-cache-control": PRIVATE_RENDITION_CACHE_CONTROL },
      });
      return [name, signed.url] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/**
 * The public URLs of a listed image's renditions, or none for an unlisted one: what anyone without
 * an entitlement to the image may be shown (carts, licenses, checkout). The one place that decides it.
 */
export const listedRenditions = (urls: PublicUrls, image: Pick<ListingState, "status" | "withdrawnAt" | "takenDownAt" | "derivativeKeys">) =>
  isListed(image) ? urls.renditions(image.derivativeKeys) : {};

/** `POST /v1/admin/renditions/reconcile`: what one page changed, and where the next one starts. */
export const ReconcileReportSchema = v.object({ checked: v.number(), published: v.number(), unpublished: v.number(), purgeFailed: v.number(), nextCursor: v.nullable(s.uuid) });
export type ReconcileReport = v.InferOutput<typeof ReconcileReportSchema>;

/** How many of the keys have a public copy: one list request (an image's renditions share a folder). */
async function publicCopies(buckets: RenditionBuckets, keys: string[]): Promise<number> {
  const folder = keys[0]?.slice(0, keys[0].lastIndexOf("/") + 1);
  if (!folder) return 0;
  const listed = await buckets.DERIVATIVES.list({ prefix: folder, limit: 100 });
  const present = new Set(listed.objects.map((object) => object.key));
  return keys.filter((key) => present.has(key)).length;
}

async function reconcileImages(deps: RenditionDeps, page: ListingState[], report: Omit<ReconcileReport, "nextCursor">) {
  for (const image of page) {
    const keys = keysOf(image.derivativeKeys);
    const present = await publicCopies(deps.env, keys);
    // Already as it should be: nothing but the one list request.
    if (isListed(image) ? present === keys.length : present === 0) continue;
    const synced = await syncListing(deps, image, { onlyMissing: true });
    report.published += synced.published.length;
    report.unpublished += synced.unpublished.length;
    if (synced.purge === "failed") report.purgeFailed += 1;
  }
}

const hasRenditions = and(isNotNull(images.derivativeKeys), sql`${images.derivativeKeys} <> '{}'::jsonb`);

/**
 * Brings the public bucket in line with the listings of a page of images (by id): publishes
 * missing public copies of listed images and removes those of unlisted ones (keeping a private
 * copy first). After this change is deployed, `POST /v1/admin/renditions/reconcile` run page by
 * page until `nextCursor` is null fixes everything written before it.
 */
export async function reconcileRenditions(deps: RenditionDeps, options: { after?: string; limit: number }): Promise<ReconcileReport> {
  const rows = await deps.db
    .select(listingColumns)
    .from(images)
    .where(and(hasRenditions, options.after ? gt(images.id, options.after) : undefined))
    .orderBy(asc(images.id))
    .limit(options.limit + 1);
  const page = rows.slice(0, options.limit);
  const report = { checked: page.length, published: 0, unpublished: 0, purgeFailed: 0 };
  await reconcileImages(deps, page, report);
  return { ...report, nextCursor: rows.length > options.limit ? (page.at(-1)?.id ?? null) : null };
}

/** The hourly maintenance looks at images whose rows changed in the last two hours, newest first, at most this many. */
export const RECENT_RECONCILE = { windowMs: 2 * 60 * 60 * 1000, maxImages: 200 };

/**
 * The hourly repair: a listing change whose sync failed after its commit (an R2 error, a Worker
 * killed mid-request) or a worker that crashed between its public copies and its commit leaves
 * the public bucket wrong until this runs. Costs one list request per recently changed image.
 */
export async function reconcileRecentRenditions(deps: RenditionDeps, now = new Date()): Promise<Omit<ReconcileReport, "nextCursor">> {
  const page = await deps.db
    .select(listingColumns)
    .from(images)
    .where(and(hasRenditions, gte(images.updatedAt, new Date(now.getTime() - RECENT_RECONCILE.windowMs))))
    .orderBy(desc(images.updatedAt))
    .limit(RECENT_RECONCILE.maxImages);
  const report = { checked: page.length, published: 0, unpublished: 0, purgeFailed: 0 };
  await reconcileImages(deps, page, report);
  return report;
}
