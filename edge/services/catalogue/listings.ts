import { and, eq, sql } from "drizzle-orm";
import type { Database, Queryable } from "../../../db/connect";
import { categories, imageCategories, images, imageTags, tagTextFor } from "../../../db/schema";
import { ApiError } from "../../lib/problem";

/**
 * A listing as its contributor owns it: finding the caller's own image, and writing the keywords
 * and categories a contributor gives (with an upload, or in a later edit).
 */

/** The contributor's own image (admins may act on any); 404 for anyone else's, so ids do not leak. */
export async function ownImage(db: Database, imageId: string, actor: { userId: string; role: string }) {
  const [image] = await db.select().from(images).where(eq(images.id, imageId));
  if (!image || (image.contributorId !== actor.userId && actor.role !== "admin")) throw new ApiError("not-found", "no such image");
  return image;
}

/** 422 naming every category slug that does not exist. */
export async function assertCategoriesExist(db: Database, slugs: string[]) {
  if (slugs.length === 0) return;
  const found = await db.select({ slug: categories.slug }).from(categories).where(sql`${categories.slug} in ${slugs}`);
  const missing = slugs.filter((slug) => !found.some((row) => row.slug === slug));
  if (missing.length > 0) {
    throw new ApiError("validation-failed", "unknown categories", { errors: missing.map((slug) => ({ path: "categories", message: `no category ${slug}` })) });
  }
}

/** Writes the contributor's keywords and categories (replacing earlier contributor ones; AI tags stay). */
export async function writeContributorLabels(tx: Queryable, imageId: string, keywords: string[] | undefined, slugs: string[] | undefined) {
  if (keywords) {
    await tx.delete(imageTags).where(and(eq(imageTags.imageId, imageId), eq(imageTags.source, "contributor")));
    const unique = [...new Set(keywords.map((k) => k.toLowerCase()))];
    if (unique.length > 0) {
      await tx
        .insert(imageTags)
        .values(unique.map((tag) => ({ imageId, tag, source: "contributor" as const })))
        .onConflictDoUpdate({ target: [imageTags.imageId, imageTags.tag], set: { source: "contributor", confidence: null } });
    }
    await tx
      .update(images)
      .set({ tagText: tagTextFor(imageId) })
      .where(eq(images.id, imageId));
  }
  if (slugs) {
    await tx.delete(imageCategories).where(and(eq(imageCategories.imageId, imageId), eq(imageCategories.source, "contributor")));
    if (slugs.length > 0) {
      await tx
        .insert(imageCategories)
        .values(slugs.map((categorySlug) => ({ imageId, categorySlug, source: "contributor" as const })))
        .onConflictDoUpdate({ target: [imageCategories.imageId, imageCategories.categorySlug], set: { source: "contributor", confidence: null } });
    }
  }
}
