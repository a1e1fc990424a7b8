import { pgTable, primaryKey, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { id, timestamps, tstz } from "./columns";
import { images } from "./images";
import { licenseType } from "./license-prices";
import { users } from "./users";

/** A buyer's basket. At most one per buyer: checkout copies it into an order and empties it. */
export const carts = pgTable(
  "carts",
  {
    id: id(),
    buyerId: uuid("buyer_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    ...timestamps,
  },
  (t) => [uniqueIndex("carts_buyer_key").on(t.buyerId)],
);

/** Image and license type in a cart; prices are looked up at checkout, not frozen here. */
export const cartItems = pgTable(
  "cart_items",
  {
    cartId: uuid("cart_id")
      .notNull()
      .references(() => carts.id, { onDelete: "cascade" }),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    licenseType: licenseType("license_type").notNull(),
    addedAt: tstz("added_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.cartId, t.imageId, t.licenseType] })],
);

export type Cart = typeof carts.$inferSelect;
export type CartItem = typeof cartItems.$inferSelect;
