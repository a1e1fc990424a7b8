import { and, asc, eq, isNotNull, isNull } from "drizzle-orm";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { images, type LicenseType, licensePrices, licenseType } from "../../../db/schema";
import { CURRENCY_DEFAULT } from "../../../db/schema/columns";
import { afterCursor, type CursorPosition, newestFirst, page } from "../../lib/pagination";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { audit } from "../admin/audit";
import { EDITORIAL_ONLY, mayLicenseAs } from "./license-types";

export const PriceSchema = v.object({
  id: s.uuid,
  imageId: v.nullable(s.uuid),
  licenseType: v.picklist(licenseType.enumValues),
  currency: v.string(),
  amountCents: v.number(),
  active: v.boolean(),
  updatedAt: v.string(),
});
export type PriceView = v.InferOutput<typeof PriceSchema>;

/** The price list: every marketplace default and a page of per-image prices. */
export const PriceListSchema = v.object({
  defaults: v.array(PriceSchema),
  overrides: v.array(v.object({ ...PriceSchema.entries, imageTitle: v.string() })),
  nextCursor: v.nullable(v.string()),
});
export type PriceList = v.InferOutput<typeof PriceListSchema>;

/** A price as stored after a change, and the amount it replaced (null for a new price). */
export const PriceChangeResultSchema = v.object({ price: PriceSchema, previousAmountCents: v.nullable(v.number()) });
export type PriceChangeResult = v.InferOutput<typeof PriceChangeResultSchema>;

const columns = {
  id: licensePrices.id,
  imageId: licensePrices.imageId,
  licenseType: licensePrices.licenseType,
  currency: licensePrices.currency,
  amountCents: licensePrices.amountCents,
  active: licensePrices.active,
  createdAt: licensePrices.createdAt,
  updatedAt: licensePrices.updatedAt,
};

const view = ({ createdAt: _createdAt, ...row }: { createdAt: Date; updatedAt: Date } & Omit<PriceView, "updatedAt">): PriceView => ({
  ...row,
  updatedAt: row.updatedAt.toISOString(),
});

/**
 * The price list: every marketplace default (one per license type and currency, a short list) and
 * a page of per-image overrides, newest first, optionally for one image.
 */
export async function listPrices(db: Database, filter: { imageId?: string }, limit: number, after: CursorPosition | undefined): Promise<PriceList> {
  const defaults = await db.select(columns).from(licensePrices).where(isNull(licensePrices.imageId)).orderBy(asc(licensePrices.currency), asc(licensePrices.licenseType));
  const overrides = await db
    .select({ ...columns, imageTitle: images.title })
    .from(licensePrices)
    .innerJoin(images, eq(images.id, licensePrices.imageId))
    .where(
      and(isNotNull(licensePrices.imageId), filter.imageId ? eq(licensePrices.imageId, filter.imageId) : undefined, afterCursor(licensePrices.createdAt, licensePrices.id, after)),
    )
    .orderBy(...newestFirst(licensePrices.createdAt, licensePrices.id))
    .limit(limit + 1);
  const { items, nextCursor } = page(overrides, limit);
  return {
    defaults: defaults.map(view),
    overrides: items.map(({ imageTitle, ...row }) => ({ ...view(row), imageTitle })),
    nextCursor,
  };
}

/** `PUT /v1/admin/prices`'s body (the console's price form validates the same). */
export const PriceChangeSchema = v.strictObject({
  licenseType: v.picklist(licenseType.enumValues, "must be standard, enhanced or editorial"),
  amountCents: v.pipe(v.number(), v.safeInteger("must be a whole number of cents"), v.minValue(1, "must be 1-10000000"), v.maxValue(10_000_000, "must be 1-10000000")),
  currency: v.optional(v.pipe(v.string(), v.regex(/^[a-z]{3}$/, "must be a lower-case ISO 4217 code, e.g. usd"))),
  imageId: v.optional(s.uuid),
});

export type PriceChange = { licenseType: LicenseType; amountCents: number; currency?: string; imageId?: string };

/**
 * Sets the marketplace default for a license type and currency, or one image's own price,
 * inserting or updating (and re-activating) the one row the unique key allows. Orders copy their
 * prices, so this never changes what was sold. Audited with the old and new amounts in the same
 * transaction.
 */
export async function setPrice(db: Database, change: PriceChange, by: { actorId: string; requestId?: string }): Promise<PriceChangeResult> {
  const currency = change.currency ?? CURRENCY_DEFAULT;
  const imageId = change.imageId ?? null;
  if (imageId) {
    const [image] = await db.select({ editorial: images.editorial }).from(images).where(eq(images.id, imageId));
    if (!image) throw new ApiError("not-found", "no image with this id");
    if (!mayLicenseAs(image, change.licenseType)) {
      throw new ApiError("validation-failed", EDITORIAL_ONLY, { errors: [{ path: "licenseType", message: EDITORIAL_ONLY }] });
    }
  }
  return db.transaction(async (tx) => {
    const [previous] = await tx
      .select({ amountCents: licensePrices.amountCents })
      .from(licensePrices)
      .where(
        and(imageId ? eq(licensePrices.imageId, imageId) : isNull(licensePrices.imageId), eq(licensePrices.licenseType, change.licenseType), eq(licensePrices.currency, currency)),
      )
      .for("update");
    const [price] = await tx
      .insert(licensePrices)
      .values({ imageId, licenseType: change.licenseType, currency, amountCents: change.amountCents })
      .onConflictDoUpdate({
        target: [licensePrices.imageId, licensePrices.licenseType, licensePrices.currency],
        set: { amountCents: change.amountCents, active: true, updatedAt: new Date() },
      })
      .returning(columns);
    if (!price) throw new Error("price upsert returned no row");
    const previousAmountCents = previous?.amountCents ?? null;
    await audit(tx, {
      actorId: by.actorId,
      action: "price.update",
      targetType: "license_price",
      targetId: price.id,
      detail: { imageId, licenseType: change.licenseType, currency, oldAmountCents: previousAmountCents, newAmountCents: change.amountCents },
      requestId: by.requestId,
    });
    return { price: view(price), previousAmountCents };
  });
}
