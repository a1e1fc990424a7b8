import { boolean, integer, pgEnum, pgTable, text, unique, uuid } from "drizzle-orm/pg-core";
import { CURRENCY_DEFAULT, id, timestamps } from "./columns";
import { images } from "./images";

/** The licenses sold; editorial images can only be licensed as editorial. */
export const licenseType = pgEnum("license_type", ["standard", "enhanced", "editorial"]);

/**
 * Price list. A row with `image_id` null is the marketplace default for that license type and
 * currency; a row with an image overrides it. Orders copy the price, so editing a row never
 * changes what was sold.
 */
export const licensePrices = pgTable(
  "license_prices",
  {
    id: id(),
    imageId: uuid("image_id").references(() => images.id, { onDelete: "cascade" }),
    licenseType: licenseType("license_type").notNull(),
    currency: text("currency").notNull().default(CURRENCY_DEFAULT),
    amountCents: integer("amount_cents").notNull(),
    active: boolean("active").notNull().default(true),
    ...timestamps,
  },
  // NULLS NOT DISTINCT: only one default (image_id null) per license type and currency.
  (t) => [unique("license_prices_image_type_currency_key").on(t.imageId, t.licenseType, t.currency).nullsNotDistinct()],
);

export type LicensePrice = typeof licensePrices.$inferSelect;
export type LicenseType = (typeof licenseType.enumValues)[number];
