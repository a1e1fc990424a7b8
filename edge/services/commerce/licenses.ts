import { and, eq, inArray, isNotNull, isNull, type SQL } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import * as v from "valibot";
import type { Database, Queryable } from "../../../db/connect";
import { type DerivativeKeys, type ImageStatus, images, type LicenseType, licenses, licenseType, orderItems, users } from "../../../db/schema";
import type { PublicUrls } from "../../adapters/public-urls";
import { licenseTerms } from "../../data/license-terms";
import { afterCursor, type CursorPosition, encodeCursor, newestFirst } from "../../lib/pagination";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { listedRenditions } from "../catalogue/renditions";

export const LicenseTermsSchema = v.object({
  name: v.string(),
  summary: v.string(),
  // Read-only: the terms are shared constants (edge/data/license-terms.ts).
  permittedUses: v.pipe(v.array(v.string()), v.readonly()),
  prohibitedUses: v.pipe(v.array(v.string()), v.readonly()),
  printRunLimit: v.nullable(v.number()),
  digitalViewLimit: v.nullable(v.number()),
  merchandiseForResale: v.boolean(),
  commercialUse: v.boolean(),
});

export const LicenseSchema = v.object({
  id: s.uuid,
  imageId: s.uuid,
  imageTitle: v.string(),
  thumbnailUrl: v.nullable(v.string()),
  licenseType: v.picklist(licenseType.enumValues),
  terms: LicenseTermsSchema,
  priceCents: v.number(),
  currency: v.string(),
  source: v.picklist(["order", "subscription"]),
  orderId: v.nullable(s.uuid),
  issuedAt: v.string(),
  revokedAt: v.nullable(v.string()),
  revokedReason: v.nullable(v.string()),
  certificateUrl: v.string(),
  downloadUrl: v.string(),
});
export type LicenseView = v.InferOutput<typeof LicenseSchema>;

export const LicensePageSchema = s.pageOf(LicenseSchema);
export type LicensePage = v.InferOutput<typeof LicensePageSchema>;

export type LicenseDeps = { db: Database; urls: PublicUrls };

export type LicenseFilter = { imageId?: string; status?: "active" | "revoked" };

const columns = {
  id: licenses.id,
  imageId: licenses.imageId,
  imageTitle: images.title,
  derivativeKeys: images.derivativeKeys,
  status: images.status,
  withdrawnAt: images.withdrawnAt,
  takenDownAt: images.takenDownAt,
  licenseType: licenses.licenseType,
  priceCents: licenses.priceCents,
  currency: licenses.currency,
  orderItemId: licenses.orderItemId,
  orderId: orderItems.orderId,
  issuedAt: licenses.issuedAt,
  revokedAt: licenses.revokedAt,
  revokedReason: licenses.revokedReason,
};

type Row = {
  id: string;
  imageId: string;
  imageTitle: string;
  derivativeKeys: DerivativeKeys | null;
  status: ImageStatus;
  withdrawnAt: Date | null;
  takenDownAt: Date | null;
  licenseType: LicenseType;
  priceCents: number;
  currency: string;
  orderItemId: string | null;
  orderId: string | null;
  issuedAt: Date;
  revokedAt: Date | null;
  revokedReason: string | null;
};

function toView(row: Row, urls: PublicUrls): LicenseView {
  return {
    id: row.id,
    imageId: row.imageId,
    imageTitle: row.imageTitle,
    // Public renditions exist only while the image is listed: a withdrawn or taken-down one has no thumbnail.
    thumbnailUrl: listedRenditions(urls, row).thumb450 ?? null,
    licenseType: row.licenseType,
    terms: licenseTerms(row.licenseType),
    priceCents: row.priceCents,
    currency: row.currency,
    source: row.orderItemId ? "order" : "subscription",
    orderId: row.orderId,
    issuedAt: row.issuedAt.toISOString(),
    revokedAt: row.revokedAt?.toISOString() ?? null,
    revokedReason: row.revokedReason,
    certificateUrl: `/v1/licenses/${row.id}/certificate`,
    downloadUrl: `/v1/images/${row.imageId}/download?license=${row.id}`,
  };
}

const STATUS_FILTER: Record<NonNullable<LicenseFilter["status"]>, SQL> = {
  active: isNull(licenses.revokedAt),
  revoked: isNotNull(licenses.revokedAt),
};

/** The buyer's licenses, newest first, a page at a time (keyset over issued_at, id). */
export async function listLicenses(deps: LicenseDeps, buyerId: string, filter: LicenseFilter, limit: number, after: CursorPosition | undefined): Promise<LicensePage> {
  const { db, urls } = deps;
  const rows = await db
    .select(columns)
    .from(licenses)
    .innerJoin(images, eq(images.id, licenses.imageId))
    .leftJoin(orderItems, eq(orderItems.id, licenses.orderItemId))
    .where(
      and(
        eq(licenses.buyerId, buyerId),
        filter.imageId ? eq(licenses.imageId, filter.imageId) : undefined,
        filter.status ? STATUS_FILTER[filter.status] : undefined,
        afterCursor(licenses.issuedAt, licenses.id, after),
      ),
    )
    .orderBy(...newestFirst(licenses.issuedAt, licenses.id))
    .limit(limit + 1);
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items: items.map((row) => toView(row, urls)),
    nextCursor: rows.length > limit && last ? encodeCursor({ createdAt: last.issuedAt, id: last.id }) : null,
  };
}

/** One of the buyer's licenses; anyone else's is a 404 (never a 403), so license ids do not leak. */
export async function getLicense(deps: LicenseDeps, buyerId: string, id: string): Promise<LicenseView> {
  const [row] = await deps.db
    .select(columns)
    .from(licenses)
    .innerJoin(images, eq(images.id, licenses.imageId))
    .leftJoin(orderItems, eq(orderItems.id, licenses.orderItemId))
    .where(and(eq(licenses.id, id), eq(licenses.buyerId, buyerId)));
  if (!row) throw new ApiError("not-found", "no license with this id");
  return toView(row, deps.urls);
}

export type CertificateFacts = LicenseView & {
  licensee: { name: string; email: string };
  contributor: { id: string; name: string };
};

type LicenseLine = { imageId: string; licenseType: LicenseType };

/**
 * The buyer's unrevoked licenses for some images: what must not be sold to them again (the cart,
 * checkout and settlement each refuse it). Look one up with {@link holding}.
 */
export async function heldLicenses(db: Queryable, buyerId: string, imageIds: string[]): Promise<({ id: string } & LicenseLine)[]> {
  if (imageIds.length === 0) return [];
  return db
    .select({ id: licenses.id, imageId: licenses.imageId, licenseType: licenses.licenseType })
    .from(licenses)
    .where(and(eq(licenses.buyerId, buyerId), isNull(licenses.revokedAt), inArray(licenses.imageId, imageIds)));
}

/** The held license (from {@link heldLicenses}) for this image and license type, if any. */
export const holding = <T extends LicenseLine>(held: T[], line: LicenseLine): T | undefined => held.find((h) => h.imageId === line.imageId && h.licenseType === line.licenseType);

const contributors = alias(users, "contributor");

/** Everything a license certificate states: the license, the licensee and the image's contributor. */
export async function certificateFacts(deps: LicenseDeps, buyerId: string, id: string): Promise<CertificateFacts> {
  const [row] = await deps.db
    .select({
      ...columns,
      licenseeName: users.displayName,
      licenseeEmail: users.email,
      contributorId: contributors.id,
      contributorName: contributors.displayName,
    })
    .from(licenses)
    .innerJoin(images, eq(images.id, licenses.imageId))
    .innerJoin(users, eq(users.id, licenses.buyerId))
    .innerJoin(contributors, eq(contributors.id, images.contributorId))
    .leftJoin(orderItems, eq(orderItems.id, licenses.orderItemId))
    .where(and(eq(licenses.id, id), eq(licenses.buyerId, buyerId)));
  if (!row) throw new ApiError("not-found", "no license with this id");
  return {
    ...toView(row, deps.urls),
    licensee: { name: row.licenseeName, email: row.licenseeEmail },
    contributor: { id: row.contributorId, name: row.contributorName },
  };
}

/**
 * Which of these images were taken down: a license for one no longer grants a download (see
 * authorizeDownload), so the licenses page says why instead of offering one.
 */
export async function takenDownImageIds(db: Queryable, imageIds: string[]): Promise<Set<string>> {
  if (imageIds.length === 0) return new Set();
  const rows = await db
    .select({ id: images.id })
    .from(images)
    .where(and(inArray(images.id, [...new Set(imageIds)]), isNotNull(images.takenDownAt)));
  return new Set(rows.map((row) => row.id));
}
