import { and, asc, desc, eq, like, lt, sql } from "drizzle-orm";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { searchQueries, searchQuerySearchers } from "../../../db/schema";
import { ApiError } from "../../lib/problem";
import { audit } from "../admin/audit";
import { suggestionText } from "./search";
import { POPULAR_QUERY_MIN_SEARCHERS } from "./search-sql";

/** A remembered search as an admin reviews it: how often and by how many people it was run. */
export const RememberedQuerySchema = v.object({
  query: v.string(),
  searches: v.number(),
  searchers: v.number(),
  blocked: v.boolean(),
  suggested: v.boolean(),
  lastSeenAt: v.string(),
});
export type RememberedQuery = v.InferOutput<typeof RememberedQuerySchema>;

/** `GET /v1/admin/search-queries`. */
export const RememberedQueriesSchema = v.object({ items: v.array(RememberedQuerySchema) });
export type RememberedQueries = v.InferOutput<typeof RememberedQueriesSchema>;

const shape = (row: typeof searchQueries.$inferSelect): RememberedQuery => ({
  query: row.query,
  searches: row.count,
  searchers: row.searchers,
  blocked: row.blocked,
  suggested: !row.blocked && row.searchers >= POPULAR_QUERY_MIN_SEARCHERS,
  lastSeenAt: row.lastSeenAt.toISOString(),
});

/** Remembered searches starting with `prefix` (all when empty), most searchers first; `blocked` narrows to blocked ones. */
export async function listRememberedQueries(db: Database, options: { prefix: string; blocked?: boolean; limit: number }): Promise<RememberedQueries> {
  const prefix = options.prefix ? (suggestionText(options.prefix) ?? "") : "";
  const rows = await db
    .select()
    .from(searchQueries)
    .where(
      and(
        prefix ? like(searchQueries.query, `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`) : undefined,
        options.blocked === undefined ? undefined : eq(searchQueries.blocked, options.blocked),
      ),
    )
    .orderBy(desc(searchQueries.searchers), desc(searchQueries.count), asc(searchQueries.query))
    .limit(options.limit);
  return { items: rows.map(shape) };
}

/**
 * Blocks (or unblocks) a search from ever being suggested, under the same normalised text the
 * search route records; a query nobody ran yet can be blocked ahead of time. Audited.
 */
export async function setQueryBlocked(db: Database, text: string, blocked: boolean, by: { actorId: string; requestId?: string }): Promise<RememberedQuery> {
  const query = suggestionText(text);
  if (!query) throw new ApiError("validation-failed", "nothing in this text could ever be suggested", { errors: [{ path: "query", message: "use letters or digits" }] });
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(searchQueries)
      .values({ query, blocked })
      .onConflictDoUpdate({ target: searchQueries.query, set: { blocked, lastSeenAt: sql`${searchQueries.lastSeenAt}` } })
      .returning();
    if (!row) throw new Error("the search query upsert returned no row");
    await audit(tx, {
      actorId: by.actorId,
      action: blocked ? "search-query.block" : "search-query.unblock",
      targetType: "search_query",
      targetId: query,
      detail: { text },
      requestId: by.requestId,
    });
    return shape(row);
  });
}

/** Who asked what is kept 30 days: enough to count distinct searchers, not a search history. */
export const SEARCHER_RETENTION_MS = 30 * 86_400_000;

/** Forgets (query, searcher) pairs older than {@link SEARCHER_RETENTION_MS}; the counts they made stay. */
export async function purgeOldSearchers(db: Database, now = new Date()): Promise<number> {
  const gone = await db
    .delete(searchQuerySearchers)
    .where(lt(searchQuerySearchers.firstSeenAt, new Date(now.getTime() - SEARCHER_RETENTION_MS)))
    .returning({ query: searchQuerySearchers.query });
  return gone.length;
}
