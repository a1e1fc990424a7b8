import { index, integer, pgTable, primaryKey, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { id, timestamps, tstz } from "./columns";
import { images } from "./images";
import { users } from "./users";

/**
 * A user's named set of images (a lightbox or board), private to its owner. A share link shows it
 * read-only to anyone holding `share_token` (random, unguessable; revoking clears it, a new link
 * replaces it); the shared view lists only images that are listed now.
 */
export const collections = pgTable(
  "collections",
  {
    id: id(),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    description: text("description"),
    shareToken: text("share_token"),
    ...timestamps,
  },
  (t) => [index("collections_owner_idx").on(t.ownerId, t.createdAt), uniqueIndex("collections_share_token_idx").on(t.shareToken)],
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
    /** The owner's order: ascending, new items last. */
    position: integer("position").notNull().default(0),
    addedAt: tstz("added_at").notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.collectionId, t.imageId] }),
    index("collection_items_image_idx").on(t.imageId),
    index("collection_items_order_idx").on(t.collectionId, t.position),
  ],
);

export type Collection = typeof collections.$inferSelect;
export type CollectionItem = typeof collectionItems.$inferSelect;
