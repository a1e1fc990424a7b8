import { type SQL, sql } from "drizzle-orm";
import { images } from "../../db/schema";

/**
 * The marketplace's two visibility rules, written once. Every grant checks them against the
 * image's current row: a new license (bought, or spent from a subscription credit) is issued only
 * for an image that is for sale right now; a public page or rendition shows only a listed image.
 */

/** Listed: approved and not withdrawn by its contributor (a takedown sets status to rejected). */
export const isListed: SQL<boolean> = sql<boolean>`(${images.status} = 'approved' and ${images.withdrawnAt} is null and ${images.takenDownAt} is null)`;

/** For sale: listed. A license already held keeps working after a withdrawal, never after a takedown. */
export const isForSale: SQL<boolean> = isListed;

/** Why an image that exists is not for sale, in the words a buyer sees. */
export function notForSaleReason(image: { status: string; withdrawnAt: Date | null; takenDownAt: Date | null }): "taken-down" | "withdrawn" | "not-listed" {
  if (image.takenDownAt) return "taken-down";
  if (image.withdrawnAt) return "withdrawn";
  return "not-listed";
}
