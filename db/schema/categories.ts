import { index, integer, pgTable, primaryKey, real, text, uuid } from "drizzle-orm/pg-core";
import { tagSource } from "./image-tags";
import { images } from "./images";

/** Browse categories; the slug is the key so URLs and facets need no join. */
export const categories = pgTable("categories", {
  slug: text("slug").primaryKey(),
  name: text("name").notNull(),
  sortOrder: integer("sort_order").notNull().default(0),
});

/** Which categories an image is filed under, and who filed it there. */
export const imageCategories = pgTable(
  "image_categories",
  {
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    categorySlug: text("category_slug")
      .notNull()
      .references(() => categories.slug, { onDelete: "cascade", onUpdate: "cascade" }),
    /** Model confidence in [0, 1]; null for human choices. */
    confidence: real("confidence"),
    source: tagSource("source").notNull(),
  },
  (t) => [primaryKey({ columns: [t.imageId, t.categorySlug] }), index("image_categories_category_idx").on(t.categorySlug)],
);

export type Category = typeof categories.$inferSelect;
export type ImageCategory = typeof imageCategories.$inferSelect;
