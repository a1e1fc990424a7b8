import { bigserial, index, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { apiKeys } from "./api-keys";
import { tstz } from "./columns";
import { images } from "./images";
import { licenses } from "./licenses";
import { users } from "./users";

/** Append-only record of every signed download handed out, for abuse detection and contributor stats. */
export const downloadEvents = pgTable(
  "download_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    licenseId: uuid("license_id")
      .notNull()
      .references(() => licenses.id, { onDelete: "restrict" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "restrict" }),
    ip: text("ip"),
    userAgent: text("user_agent"),
    /** Set when the download came through the API rather than a browser session. */
    apiKeyId: uuid("api_key_id").references(() => apiKeys.id, { onDelete: "set null" }),
    createdAt: tstz("created_at").notNull().defaultNow(),
  },
  (t) => [
    index("download_events_license_idx").on(t.licenseId, t.createdAt),
    index("download_events_user_idx").on(t.userId, t.createdAt),
    index("download_events_image_idx").on(t.imageId, t.createdAt),
  ],
);

export type DownloadEvent = typeof downloadEvents.$inferSelect;
