/**
 * Reading the fields of Stripe's objects the same way everywhere: references that may or may not
 * be expanded, and times in Unix seconds.
 */

/**
 * The id of a reference Stripe may send as an id or as the expanded object.
 *
 * @example stripeId("pi_123") // "pi_123"; stripeId({ id: "pi_123" }) // "pi_123"; stripeId(null) // null
 */
export const stripeId = (ref: string | { id: string } | null | undefined): string | null => (typeof ref === "string" ? ref : (ref?.id ?? null));

/** A Stripe timestamp (Unix seconds) as a Date. */
export const stripeTime = (seconds: number): Date => new Date(seconds * 1000);

/** {@link stripeTime} for a field Stripe may leave out: null then. */
export const stripeTimeOrNull = (seconds: number | null | undefined): Date | null => (typeof seconds === "number" ? stripeTime(seconds) : null);
