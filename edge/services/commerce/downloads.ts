import { and, desc, eq, gte, isNull, sql } from "drizzle-orm";
import * as v from "valibot";
import { isListed, isUploadContentType, notListedReason, UPLOAD_TYPES } from "../../../common/images";
import type { S3Client } from "../../../common/s3";
import type { Database, Transaction } from "../../../db/connect";
import { downloadCredits, downloadEvents, images, type License, type LicenseType, licenses, licenseType } from "../../../db/schema";
import type { Config } from "../../config";
import type { Principal } from "../../lib/principal";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { EDITORIAL_ONLY, mayLicenseAs, SUBSCRIPTION_LICENSE_TYPES } from "./license-types";
import { creditValueCents } from "./money";
import { recordEarnings } from "./settlement";
import { creditBalance, liveSubscription } from "./subscriptions";

export const DownloadTicketSchema = v.object({
  url: v.string(),
  expiresAt: v.string(),
  licenseId: s.uuid,
  licenseType: v.picklist(licenseType.enumValues),
  /** True when this download spent a subscription credit (a new license was issued). */
  usedCredit: v.boolean(),
  filename: v.string(),
});
export type DownloadTicket = v.InferOutput<typeof DownloadTicketSchema>;

export type DownloadDeps = { db: Database; config: Config; s3: S3Client };

/** A filename for the attachment: the title's letters and digits, the image id, the extension its original is stored under. */
function attachmentName(title: string, imageId: string, format: string | null): string {
  const stem =
    title
      .normalize("NFKD")
      .replace(/[^A-Za-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 60)
      .toLowerCase() || "image";
  const type = `image/${format}`;
  return `${stem}-${imageId.slice(0, 8)}.${isUploadContentType(type) ? UPLOAD_TYPES[type] : "jpg"}`;
}

/** The buyer's newest unrevoked license of this type for the image, if any. */
async function heldLicense(tx: Transaction, buyerId: string, imageId: string, licenseType: LicenseType): Promise<License | undefined> {
  const [license] = await tx
    .select()
    .from(licenses)
    .where(and(eq(licenses.buyerId, buyerId), eq(licenses.imageId, imageId), eq(licenses.licenseType, licenseType), isNull(licenses.revokedAt)))
    .orderBy(desc(licenses.issuedAt))
    .limit(1);
  return license;
}

/**
 * Spends one credit of the buyer's live subscription on a new license for the image, and records
 * the contributor's share of the credit's value. The subscription row is locked so two downloads
 * at once cannot spend the last credit twice.
 */
async function licenseFromCredit(
  tx: Transaction,
  config: Config,
  buyerId: string,
  imageId: string,
  licenseType: LicenseType,
): Promise<{ license: License; spent: boolean } | null> {
  if (!SUBSCRIPTION_LICENSE_TYPES.includes(licenseType)) return null;
  const live = await liveSubscription(tx, buyerId, { lock: true });
  if (!live) return null;
  // A download of the same image that held the lock before us may have licensed it already.
  const held = await heldLicense(tx, buyerId, imageId, licenseType);
  if (held) return { license: held, spent: false };
  // A new license only for an image on sale now; the row lock holds off a takedown or withdrawal
  // until this credit is spent (or not).
  const [image] = await tx
    .select({ status: images.status, withdrawnAt: images.withdrawnAt, takenDownAt: images.takenDownAt })
    .from(images)
    .where(eq(images.id, imageId))
    .for("share");
  if (!image || !isListed(image)) {
    const reason = image ? notListedReason(image) : "not-listed";
    if (reason === "not-listed") throw new ApiError("not-found", "no such image");
    throw new ApiError("image-unavailable", `this image was ${reason === "withdrawn" ? "withdrawn by its contributor" : "taken down"}; no new licenses are issued for it`);
  }
  if ((await creditBalance(tx, live.subscription.id)) < 1) return null;
  const [license] = await tx
    .insert(licenses)
    .values({ buyerId, imageId, subscriptionId: live.subscription.id, licenseType, priceCents: 0, currency: live.plan.currency })
    .returning();
  if (!license) throw new Error("the license insert returned no row");
  await tx.insert(downloadCredits).values({
    userId: buyerId,
    subscriptionId: live.subscription.id,
    delta: -1,
    reason: "consume",
    imageId,
    licenseId: license.id,
    periodStart: live.subscription.currentPeriodStart,
  });
  const value = creditValueCents(live.plan.priceCents, live.plan.monthlyCredits);
  await recordEarnings(tx, config, [{ id: license.id, imageId, orderItemId: null, grossCents: value, currency: live.plan.currency }]);
  return { license, spent: true };
}

/**
 * Authorises a download of an image's original and returns a short-lived presigned GET for it.
 * `license` is either a license id the caller holds for this image, or a license type: then a held
 * license of that type is used, else one subscription credit is spent on a new license, only for
 * an image for sale right now (isListed in common/images.ts). Revoked licenses, other buyers' licenses and
 * taken-down images are refused; a license held for a withdrawn image keeps working. Every
 * download is recorded; a buyer's repeated downloads of one license count once a day toward the
 * image's popularity.
 */
export async function authorizeDownload(
  deps: DownloadDeps,
  principal: Principal,
  imageId: string,
  license: string,
  client: { ip: string | null; userAgent: string | null },
): Promise<DownloadTicket> {
  const { db, config } = deps;
  const [image] = await db
    .select({ id: images.id, title: images.title, editorial: images.editorial, originalKey: images.originalKey, format: images.format, takenDownAt: images.takenDownAt })
    .from(images)
    .where(eq(images.id, imageId));
  if (!image) throw new ApiError("not-found", "no such image");
  if (image.takenDownAt) throw new ApiError("image-unavailable", "this image was taken down and can no longer be downloaded");
  if (!image.originalKey) throw new ApiError("not-found", "no such image");

  const byId = v.is(s.uuid, license);
  if (!byId && !mayLicenseAs(image, license as LicenseType)) {
    throw new ApiError("validation-failed", EDITORIAL_ONLY, { errors: [{ path: "license", message: "use editorial" }] });
  }

  const { chosen, usedCredit } = await db.transaction(async (tx) => {
    let chosen: License | undefined;
    let usedCredit = false;
    if (byId) {
      [chosen] = await tx
        .select()
        .from(licenses)
        .where(and(eq(licenses.id, license), eq(licenses.buyerId, principal.userId), eq(licenses.imageId, imageId)));
      // Someone else's license, or one for another image, is indistinguishable from none.
      if (!chosen) throw new ApiError("not-found", "you hold no such license for this image");
    } else {
      chosen = await heldLicense(tx, principal.userId, imageId, license as LicenseType);
      if (!chosen) {
        const fromCredit = await licenseFromCredit(tx, config, principal.userId, imageId, license as LicenseType);
        chosen = fromCredit?.license;
        usedCredit = fromCredit?.spent ?? false;
      }
      if (!chosen) {
        throw new ApiError("license-required", `buy a ${license} license for this image (or use a subscription credit)`, { imageId, licenseType: license, buy: "/v1/cart" });
      }
    }
    if (chosen.revokedAt) throw new ApiError("license-required", `this license was revoked (${chosen.revokedReason ?? "revoked"})`, { licenseId: chosen.id });
    // Popularity counts a buyer's downloads of one license once per (UTC) day: the license row lock
    // orders concurrent downloads, so exactly the first of the day finds no earlier event.
    await tx.select({ id: licenses.id }).from(licenses).where(eq(licenses.id, chosen.id)).for("update");
    const [earlierToday] = await tx
      .select({ id: downloadEvents.id })
      .from(downloadEvents)
      .where(
        and(
          eq(downloadEvents.licenseId, chosen.id),
          eq(downloadEvents.userId, principal.userId),
          gte(downloadEvents.createdAt, sql`date_trunc('day', now() at time zone 'utc') at time zone 'utc'`),
        ),
      )
      .limit(1);
    await tx.insert(downloadEvents).values({
      licenseId: chosen.id,
      userId: principal.userId,
      imageId,
      ip: client.ip,
      userAgent: client.userAgent?.slice(0, 500) ?? null,
      apiKeyId: principal.kind === "api_key" ? principal.apiKeyId : null,
    });
    if (!earlierToday)
      await tx
        .update(images)
        .set({ downloadCount: sql`${images.downloadCount} + 1` })
        .where(eq(images.id, imageId));
    return { chosen, usedCredit };
  });

  const filename = attachmentName(image.title, image.id, image.format);
  const signed = await deps.s3.presign("GET", config.ORIGINALS_BUCKET_NAME, image.originalKey, {
    expiresIn: config.DOWNLOAD_URL_TTL_SECONDS,
    query: { "response-content-disposition": `attachment; filename="${filename}"` },
  });
  return { url: signed.url, expiresAt: signed.expiresAt.toISOString(), licenseId: chosen.id, licenseType: chosen.licenseType, usedCredit, filename };
}
