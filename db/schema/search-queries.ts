import { bigint, boolean, index, pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { tstz } from "./columns";

/**
 * How often each normalised search query was run, for popular-query suggestions. A query is
 * offered to others only once `searchers` distinct people asked it, and never once an admin
 * blocked it.
 */
export const searchQueries = pgTable(
  "search_queries",
  {
    /** Normalised text: lower case, letters, digits and single spaces (common/ search-text rule). */
    query: text("query").primaryKey(),
    count: bigint("count", { mode: "number" }).notNull().default(0),
    /** Distinct searchers (signed-in users or client addresses, hashed) who ran it and found something. */
    searchers: bigint("searchers", { mode: "number" }).notNull().default(0),
    /** Set by an admin: never suggested, and no longer counted. */
    blocked: boolean("blocked").notNull().default(false),
    lastSeenAt: tstz("last_seen_at").notNull().defaultNow(),
  },
  (t) => [index("search_queries_count_idx").on(t.count)],
);

/** Who asked a popular query, as a keyed hash (no address or user id stored), so a searcher counts once. */
export const searchQuerySearchers = pgTable(
  "search_query_searchers",
  {
    query: text("query")
      .notNull()
      .references(() => searchQueries.query, { onDelete: "cascade" }),
    searcher: text("searcher").notNull(),
    firstSeenAt: tstz("first_seen_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.query, t.searcher] })],
);

export type SearchQuery = typeof searchQueries.$inferSelect;
