import * as v from "valibot";

/**
 * Calendar months (UTC), `YYYY-MM`: the unit of earnings reports and of payout periods.
 */
export type Month = string;

/** A month as a request gives it: `2024-05`. */
export const MonthSchema = v.pipe(v.string(), v.regex(/^\d{4}-(0[1-9]|1[0-2])$/, "must be a month, YYYY-MM"));

/**
 * The first instant of a month (UTC), or of the month `offset` months later.
 *
 * @example monthStart("2024-12", 1) // 2025-01-01T00:00:00.000Z
 */
export function monthStart(month: Month, offset = 0): Date {
  const [year, mon] = month.split("-").map(Number) as [number, number];
  return new Date(Date.UTC(year, mon - 1 + offset, 1));
}

/** The calendar month before `now` (UTC). */
export function previousMonth(now: Date): Month {
  const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  return `${month.getUTCFullYear()}-${String(month.getUTCMonth() + 1).padStart(2, "0")}`;
}
