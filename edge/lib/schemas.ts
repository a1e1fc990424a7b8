import * as v from "valibot";

/**
 * Valibot building blocks for request input. Every string is NFC-normalised, must be well-formed
 * UTF-16 (no lone surrogates) and may not carry control characters (NUL would make Postgres
 * refuse the row; the others have no business in a title or a name).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export const text = (max: number, min = 1) =>
  v.pipe(
    v.string(),
    v.check((s) => s.isWellFormed(), "must be well-formed Unicode"),
    v.transform((s) => s.normalize("NFC").trim()),
    v.check((s) => !CONTROL.test(s), "must not contain control characters"),
    v.minLength(min, `must be at least ${min} characters`),
    v.maxLength(max, `must be at most ${max} characters`),
  );

export const email = v.pipe(v.string(), v.trim(), v.toLowerCase(), v.maxLength(254, "must be at most 254 characters"), v.email("must be an email address"));

/**
 * Passwords: 10 to 200 characters; no other composition rules (NIST SP 800-63B). Like all text,
 * no lone surrogates (hashing encodes them as U+FFFD, so two passwords would match) and no
 * control characters.
 */
export const password = v.pipe(
  v.string(),
  v.check((s) => s.isWellFormed(), "must be well-formed Unicode"),
  v.check((s) => !CONTROL.test(s), "must not contain control characters"),
  v.minLength(10, "must be at least 10 characters"),
  v.maxLength(200, "must be at most 200 characters"),
);

/** A password offered at sign-in: the characters {@link password} allows, with no minimum length. */
export const passwordAttempt = v.pipe(
  v.string(),
  v.check((s) => s.isWellFormed(), "must be well-formed Unicode"),
  v.check((s) => !CONTROL.test(s), "must not contain control characters"),
  v.maxLength(200, "must be at most 200 characters"),
);

export const uuid = v.pipe(v.string(), v.uuid("must be a UUID"));

/** The range every date input must fall in: Postgres and JavaScript both hold it, with room for a day's arithmetic. */
export const EARLIEST_INSTANT = Date.UTC(1900, 0, 1);
export const LATEST_INSTANT = Date.UTC(2999, 11, 31, 23, 59, 59, 999);
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** True when an ISO date or timestamp string names a real instant between 1900 and 2999. */
export function instantInRange(text: string): boolean {
  const time = Date.parse(text);
  return !Number.isNaN(time) && time >= EARLIEST_INSTANT && time <= LATEST_INSTANT;
}

/**
 * A date (`2024-05-01`) or an ISO 8601 timestamp, between 1900 and 2999: every date input uses
 * it, so no date reaches SQL that Postgres cannot hold.
 */
export const instant = v.pipe(
  v.string(),
  v.description("A date (YYYY-MM-DD) or an ISO 8601 timestamp, between 1900-01-01 and 2999-12-31"),
  v.check((t) => DATE_ONLY.test(t) || v.is(v.pipe(v.string(), v.isoTimestamp()), t), "must be a date (YYYY-MM-DD) or an ISO 8601 timestamp"),
  v.check((t) => !Number.isNaN(Date.parse(t)), "must be a real date"),
  v.check(instantInRange, "must be between 1900-01-01 and 2999-12-31"),
);

/** Cursor pagination query: `?limit=&cursor=`; the cursor is opaque to clients. */
export const pageQuery = {
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d{1,3}$/, "must be 1-100"), v.transform(Number), v.minValue(1), v.maxValue(100)), "20"),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(200), v.regex(/^[A-Za-z0-9_-]+$/, "must be a cursor returned by this API"))),
};

/** A page of a list, as every paged route answers it: the items, and the cursor of the next page (null on the last). */
export const pageOf = <T extends v.GenericSchema>(item: T) => v.object({ items: v.array(item), nextCursor: v.nullable(v.string()) });
