import { desc, type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import * as v from "valibot";
import { base64url, fromBase64url } from "./crypto";
import { ApiError } from "./problem";
import { instantInRange } from "./schemas";

/** Keyset cursor over (created_at desc, id desc): stable under inserts, no OFFSET scans. */
const Cursor = v.object({ t: v.pipe(v.string(), v.isoTimestamp(), v.check(instantInRange)), id: v.pipe(v.string(), v.uuid()) });
export type CursorPosition = { createdAt: Date; id: string };

export function encodeCursor(position: CursorPosition): string {
  return base64url(new TextEncoder().encode(JSON.stringify({ t: position.createdAt.toISOString(), id: position.id })));
}

export function decodeCursor(cursor: string): CursorPosition {
  try {
    const parsed = v.parse(Cursor, JSON.parse(new TextDecoder().decode(fromBase64url(cursor))));
    return { createdAt: new Date(parsed.t), id: parsed.id };
  } catch {
    throw new ApiError("validation-failed", "cursor is not one this API returned", { errors: [{ path: "cursor", message: "invalid cursor" }] });
  }
}

/**
 * Keyset order: newest first, id breaking ties. Timestamps are stored at millisecond precision
 * (db/schema/columns.ts), so the cursor's value is exact and the (created_at, id) index serves it.
 */
export function newestFirst(createdAt: AnyPgColumn, id: AnyPgColumn): SQL[] {
  return [desc(createdAt), desc(id)];
}

/** The rows that come after the cursor in {@link newestFirst} order (all rows without a cursor). */
export function afterCursor(createdAt: AnyPgColumn, id: AnyPgColumn, after: CursorPosition | undefined): SQL | undefined {
  if (!after) return undefined;
  return sql`(${createdAt}, ${id}) < (${after.createdAt.toISOString()}::timestamptz, ${after.id}::uuid)`;
}

/** Given `limit + 1` rows, returns the page and the cursor of the next one (null at the end). */
export function page<T extends { createdAt: Date; id: string }>(rows: T[], limit: number) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}
