import { type Column, type SQL, sql } from "drizzle-orm";
import { index, pgEnum, pgTable, primaryKey, real, text, uuid } from "drizzle-orm/pg-core";
import { images } from "./images";

/** Who attached a tag or category: the tagging model, the contributor, or a moderator. */
export const tagSource = pgEnum("tag_source", ["ai", "contributor", "moderator"]);

/** Keywords per image. The trigram index serves fuzzy tag look-ups (`tag % 'ocen'`) for suggestions. */
export const imageTags = pgTable(
  "image_tags",
  {
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    /** Lower-cased, trimmed keyword. */
    tag: text("tag").notNull(),
    /** Model confidence in [0, 1]; null for human-entered tags. */
    confidence: real("confidence"),
    source: tagSource("source").notNull(),
  },
  (t) => [primaryKey({ columns: [t.imageId, t.tag] }), index("image_tags_tag_trgm_idx").using("gin", t.tag.op("gin_trgm_ops"))],
);

export type ImageTag = typeof imageTags.$inferSelect;

/**
 * The value of images.tag_text for an image: its tags, space-joined in order (set it whenever they
 * change). The one definition, for uploads and the worker (an id) and the importer (`images.id`,
 * to set a whole batch in one update).
 *
 * @example db.update(images).set({ tagText: tagTextFor(images.id) }).where(inArray(images.id, ids))
 */
export const tagTextFor = (imageId: string | Column): SQL =>
  sql`coalesce((select string_agg(${imageTags.tag}, ' ' order by ${imageTags.tag}) from ${imageTags} where ${imageTags.imageId} = ${imageId}), '')`;
export type TagSource = (typeof tagSource.enumValues)[number];
