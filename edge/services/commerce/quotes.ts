import { and, eq, inArray, isNull, or } from "drizzle-orm";
import { isListed } from "../../../common/images";
import type { Queryable } from "../../../db/connect";
import { images, type LicenseType, licensePrices } from "../../../db/schema";
import { CURRENCY_DEFAULT } from "../../../db/schema/columns";
import { mayLicenseAs } from "./license-types";

/** Why an image cannot be bought under a license type right now (null when it can). */
export const UNAVAILABLE_REASONS = ["not-found", "not-for-sale", "editorial-only", "no-price"] as const;
export type Unavailable = (typeof UNAVAILABLE_REASONS)[number];

export type Quote = {
  imageId: string;
  licenseType: LicenseType;
  title: string;
  contributorId: string;
  editorial: boolean;
  currency: string;
  /** Null when the image is not for sale under this license type (see `unavailable`). */
  amountCents: number | null;
  unavailable: Unavailable | null;
};

/**
 * The current price of each (image, license type): the image's own active price if it has one,
 * else the marketplace default for the license type, in the default currency. Editorial images
 * sell only under the editorial license; images that are not approved, withdrawn or taken down
 * are not for sale. One query for the whole list.
 */
export async function quote(db: Queryable, wanted: { imageId: string; licenseType: LicenseType }[], currency = CURRENCY_DEFAULT): Promise<Quote[]> {
  if (wanted.length === 0) return [];
  const ids = [...new Set(wanted.map((item) => item.imageId))];
  const rows = await db
    .select({
      id: images.id,
      title: images.title,
      contributorId: images.contributorId,
      editorial: images.editorial,
      status: images.status,
      withdrawnAt: images.withdrawnAt,
      takenDownAt: images.takenDownAt,
    })
    .from(images)
    .where(inArray(images.id, ids));
  const prices = await db
    .select({ imageId: licensePrices.imageId, licenseType: licensePrices.licenseType, amountCents: licensePrices.amountCents })
    .from(licensePrices)
    .where(and(eq(licensePrices.active, true), eq(licensePrices.currency, currency), or(isNull(licensePrices.imageId), inArray(licensePrices.imageId, ids))));
  const byImage = new Map(rows.map((row) => [row.id, row]));
  const priceOf = (imageId: string, licenseType: LicenseType) =>
    (prices.find((p) => p.imageId === imageId && p.licenseType === licenseType) ?? prices.find((p) => p.imageId === null && p.licenseType === licenseType))?.amountCents ?? null;

  return wanted.map(({ imageId, licenseType }) => {
    const image = byImage.get(imageId);
    const base = { imageId, licenseType, currency, title: image?.title ?? "", contributorId: image?.contributorId ?? "", editorial: image?.editorial ?? false };
    if (!image) return { ...base, amountCents: null, unavailable: "not-found" };
    if (!isListed(image)) return { ...base, amountCents: null, unavailable: "not-for-sale" };
    if (!mayLicenseAs(image, licenseType)) return { ...base, amountCents: null, unavailable: "editorial-only" };
    const amountCents = priceOf(imageId, licenseType);
    return { ...base, amountCents, unavailable: amountCents === null ? "no-price" : null };
  });
}
