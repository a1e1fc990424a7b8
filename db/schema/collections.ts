import { boolean, index, pgTable, primaryKey, text, uuid } from "drizzle-orm/pg-core";
import { id, timestamps, tstz } from "./columns";
import { images } from "./images";
import { users } from "./users";

/** A user's named set of images (lightbox); public ones can be shared by link. */
export const collections = pgTable(
  "collections",
  {
    id: id(),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    description: text("description"),
    isPublic: boolean("is_public").notNull().default(false),
    ...timestamps,
  },
  (t) => [index("collections_owner_idx").on(t.ownerId, t.createdAt)],
);

export const collectionItems = pgTable(
  "collection_items",
  {
    collectionId: uuid("collection_id")
      .notNull()
      .references(() => collections.id, { onDelete: "cascade" }),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    note: text("note"),
    addedAt: tstz("added_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.collectionId, t.imageId] }), index("collection_items_image_idx").on(t.imageId)],
);

export type Collection = typeof collections.$inferSelect;
export type CollectionItem = typeof collectionItems.$inferSelect;
