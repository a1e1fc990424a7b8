import { bigint, index, pgTable, text } from "drizzle-orm/pg-core";
import { tstz } from "./columns";

/** How often each normalised search query was run, for popular-query suggestions. */
export const searchQueries = pgTable(
  "search_queries",
  {
    /** Lower-cased, whitespace-collapsed query text. */
    query: text("query").primaryKey(),
    count: bigint("count", { mode: "number" }).notNull().default(0),
    lastSeenAt: tstz("last_seen_at").notNull().defaultNow(),
  },
  (t) => [index("search_queries_count_idx").on(t.count)],
);

export type SearchQuery = typeof searchQueries.$inferSelect;
