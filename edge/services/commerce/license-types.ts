import type { LicenseType } from "../../../db/schema";

/**
 * Which license types an image may be sold under, and which a subscription credit pays for: the
 * rules every commerce path (quotes, cart, prices, downloads) applies, written once.
 */

/** License types a subscription credit can pay for; enhanced licenses are bought one by one. */
export const SUBSCRIPTION_LICENSE_TYPES: readonly LicenseType[] = ["standard", "editorial"];

/** Why an editorial image is refused under another license type. */
export const EDITORIAL_ONLY = "editorial images are licensed under the editorial license only";

/** Editorial images are licensed under the editorial license only; other images under any type. */
export const mayLicenseAs = (image: { editorial: boolean }, licenseType: LicenseType): boolean => !image.editorial || licenseType === "editorial";
